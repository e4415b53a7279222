// Every GraphQL operation the page sends (the refresh is in auth-client.ts), as
// plain strings: the page parses them with `gql`, and tests/web-operations.test.ts
// in the project root validates each against the public contract
// (schema.graphql, and email.graphql for the mail operations).

export type User = { id: string; email: string; roles: string[]; emailVerified?: boolean };
/** What every sign-in returns (AuthPayload), aliased `signIn`. */
export type SignIn = { accessToken: string; user: User };

/** What the page shows of a user. `emailVerified` exists once the server sends mail (VITE_MAIL). */
export const userFields = (mail: boolean) =>
  `fragment UserFields on User { id email roles${mail ? " emailVerified" : ""} }`;

// Operations that return a user end with `...UserFields`: append `userFields(mail)`.
// The sign-ins alias their field to `signIn`, so one function handles every kind.
export const REGISTER = `mutation Register($email: String!, $password: String!) {
  signIn: register(input: { email: $email, password: $password }) { accessToken user { ...UserFields } }
}`;
export const LOGIN = `mutation Login($email: String!, $password: String!) {
  signIn: login(input: { email: $email, password: $password }) { accessToken user { ...UserFields } }
}`;
export const ME = "query Me { me { ...UserFields } }";
export const SESSIONS = "query Sessions { sessions { id current userAgent lastUsedAt } }";
export const REVOKE = "mutation Revoke($id: ID!) { revokeSession(id: $id) }";
export const LOGOUT = "mutation Logout { logout }";

// Mail (contract: email.graphql). Each emailed token is consumed only here, when
// a person presses the page's button: never on page load.
export const REQUEST_PASSWORD_RESET =
  "mutation RequestPasswordReset($email: String!) { requestPasswordReset(email: $email) }";
export const RESET_PASSWORD = `mutation ResetPassword($token: String!, $newPassword: String!) {
  resetPassword(input: { token: $token, newPassword: $newPassword })
}`;
export const REQUEST_EMAIL_VERIFICATION = "mutation RequestEmailVerification { requestEmailVerification }";
export const VERIFY_EMAIL = "mutation VerifyEmail($token: String!) { verifyEmail(token: $token) }";
export const REQUEST_EMAIL_CHANGE =
  "mutation RequestEmailChange($newEmail: String!) { requestEmailChange(newEmail: $newEmail) }";
export const CONFIRM_EMAIL_CHANGE =
  "mutation ConfirmEmailChange($token: String!) { confirmEmailChange(token: $token) }";
export const REQUEST_SIGN_IN_EMAIL =
  "mutation RequestSignInEmail($email: String!) { requestSignInEmail(email: $email) }";
export const SIGN_IN_WITH_EMAIL_LINK = `mutation SignInWithEmailLink($token: String!) {
  signIn: signInWithEmailLink(token: $token) { accessToken user { ...UserFields } }
}`;
export const SIGN_IN_WITH_EMAIL_CODE = `mutation SignInWithEmailCode($email: String!, $code: String!) {
  signIn: signInWithEmailCode(input: { email: $email, code: $code }) { accessToken user { ...UserFields } }
}`;

/** The operations above that need `userFields`. */
export const WITH_USER_FIELDS = [REGISTER, LOGIN, ME, SIGN_IN_WITH_EMAIL_LINK, SIGN_IN_WITH_EMAIL_CODE];
/** The ones a page built with VITE_MAIL=off never sends. */
export const MAIL_OPERATIONS = [
  REQUEST_PASSWORD_RESET,
  RESET_PASSWORD,
  REQUEST_EMAIL_VERIFICATION,
  VERIFY_EMAIL,
  REQUEST_EMAIL_CHANGE,
  CONFIRM_EMAIL_CHANGE,
  REQUEST_SIGN_IN_EMAIL,
  SIGN_IN_WITH_EMAIL_LINK,
  SIGN_IN_WITH_EMAIL_CODE,
];

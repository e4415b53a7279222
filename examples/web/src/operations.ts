// Every GraphQL operation the page sends (the refresh is in auth-client.ts), as
// plain strings: the page parses them with `gql`, and tests/web-operations.test.ts
// in the project root validates each against the public contract
// (schema.graphql, email.graphql for the mail operations, mfa.graphql for the
// second factors and passkeys, oauth.graphql for the identity providers).

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

// Second factors and passkeys (contract: mfa.graphql, BEHAVIOUR.md §8). WebAuthn
// options and responses travel as JSON objects (scalar JSONObject), handed to
// and taken from @simplewebauthn/browser unchanged.
export type SecondFactor = "TOTP" | "PASSKEY";
export type TotpSetup = { secret: string; uri: string; qrCodeSvg: string };
export type Passkey = { id: string; name: string; createdAt: string; lastUsedAt: string | null };
export type PasskeyChallenge = { challengeId: string; options: Record<string, unknown> };

/** A sign-in that answered MFA_REQUIRED, completed with a TOTP or recovery code, or a passkey. */
export const VERIFY_MFA = `mutation VerifyMfa($mfaToken: String!, $code: String, $passkey: PasskeyResponseInput) {
  signIn: verifyMfa(input: { mfaToken: $mfaToken, code: $code, passkey: $passkey }) { accessToken user { ...UserFields } }
}`;
export const START_PASSKEY_MFA = `mutation StartPasskeyMfa($mfaToken: String!) {
  startPasskeyMfa(mfaToken: $mfaToken) { challengeId options }
}`;
/** Sign-in with a passkey alone: no email typed, the authenticator says whose it is. */
export const START_PASSKEY_SIGN_IN = "mutation StartPasskeySignIn { startPasskeySignIn { challengeId options } }";
export const FINISH_PASSKEY_SIGN_IN = `mutation FinishPasskeySignIn($challengeId: String!, $response: JSONObject!) {
  signIn: finishPasskeySignIn(input: { challengeId: $challengeId, response: $response }) { accessToken user { ...UserFields } }
}`;
/** Renews the session's recent sign-in (REAUTHENTICATION_REQUIRED): fresh tokens, same session. */
export const REAUTHENTICATE = `mutation Reauthenticate($password: String, $code: String, $passkey: PasskeyResponseInput) {
  reauthenticate(input: { password: $password, code: $code, passkey: $passkey }) { accessToken }
}`;
/** The security page's data: which factors are on, and the passkeys. */
export const SECOND_FACTORS = "query SecondFactors { me { id secondFactors } }";
export const PASSKEYS = "query Passkeys { passkeys { id name createdAt lastUsedAt } }";
export const START_TOTP_SETUP = "mutation StartTotpSetup { startTotpSetup { secret uri qrCodeSvg } }";
export const CONFIRM_TOTP_SETUP = "mutation ConfirmTotpSetup($code: String!) { confirmTotpSetup(code: $code) }";
export const REGENERATE_RECOVERY_CODES =
  "mutation RegenerateRecoveryCodes($code: String!) { regenerateRecoveryCodes(code: $code) }";
export const DISABLE_TOTP = "mutation DisableTotp($code: String!) { disableTotp(code: $code) }";
export const START_PASSKEY_REGISTRATION =
  "mutation StartPasskeyRegistration { startPasskeyRegistration { challengeId options } }";
export const FINISH_PASSKEY_REGISTRATION = `mutation FinishPasskeyRegistration($challengeId: String!, $response: JSONObject!, $name: String) {
  finishPasskeyRegistration(input: { challengeId: $challengeId, response: $response, name: $name }) { id name createdAt lastUsedAt }
}`;
export const DELETE_PASSKEY = "mutation DeletePasskey($id: ID!) { deletePasskey(id: $id) }";

// Sign-in with an identity provider (contract: oauth.graphql, BEHAVIOUR.md §9).
// The provider's `code` and `state` come back to /oauth/callback; the server
// keeps the state, PKCE verifier and nonce, so the page only passes them on.
export type OAuthProvider = { id: string; name: string };
export type LinkedAccount = { id: string; provider: string; email: string | null; createdAt: string };

export const OAUTH_PROVIDERS = "query OAuthProviders { oauthProviders { id name } }";
export const START_OAUTH_SIGN_IN = `mutation StartOAuthSignIn($provider: String!, $redirectUri: String!) {
  startOAuthSignIn(provider: $provider, redirectUri: $redirectUri) { authorizationUrl }
}`;
export const FINISH_OAUTH_SIGN_IN = `mutation FinishOAuthSignIn($provider: String!, $code: String!, $state: String!) {
  signIn: finishOAuthSignIn(input: { provider: $provider, code: $code, state: $state }) { accessToken user { ...UserFields } }
}`;
export const LINK_OAUTH_ACCOUNT = `mutation LinkOAuthAccount($provider: String!, $code: String!, $state: String!) {
  linkOAuthAccount(input: { provider: $provider, code: $code, state: $state }) { id provider email createdAt }
}`;
export const LINKED_ACCOUNTS = "query LinkedAccounts { linkedAccounts { id provider email createdAt } }";
export const UNLINK_OAUTH_ACCOUNT = "mutation UnlinkOAuthAccount($id: ID!) { unlinkOAuthAccount(id: $id) }";

/** The operations above that need `userFields`. */
export const WITH_USER_FIELDS = [
  REGISTER,
  LOGIN,
  ME,
  SIGN_IN_WITH_EMAIL_LINK,
  SIGN_IN_WITH_EMAIL_CODE,
  VERIFY_MFA,
  FINISH_PASSKEY_SIGN_IN,
  FINISH_OAUTH_SIGN_IN,
];
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
/** The second-factor and passkey operations (mfa.graphql): sent only when a sign-in asks for a second factor or a person uses them. */
export const MFA_OPERATIONS = [
  VERIFY_MFA,
  START_PASSKEY_MFA,
  START_PASSKEY_SIGN_IN,
  FINISH_PASSKEY_SIGN_IN,
  REAUTHENTICATE,
  SECOND_FACTORS,
  PASSKEYS,
  START_TOTP_SETUP,
  CONFIRM_TOTP_SETUP,
  REGENERATE_RECOVERY_CODES,
  DISABLE_TOTP,
  START_PASSKEY_REGISTRATION,
  FINISH_PASSKEY_REGISTRATION,
  DELETE_PASSKEY,
];
/** The identity-provider operations (oauth.graphql): the sign-in page asks for the list; the rest runs when a person uses a provider. */
export const OAUTH_OPERATIONS = [
  OAUTH_PROVIDERS,
  START_OAUTH_SIGN_IN,
  FINISH_OAUTH_SIGN_IN,
  LINK_OAUTH_ACCOUNT,
  LINKED_ACCOUNTS,
  UNLINK_OAUTH_ACCOUNT,
];

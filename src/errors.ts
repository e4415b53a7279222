/**
 * The catalogue of every error a client can see, with its contract code
 * (BEHAVIOUR.md "Errors"). Domain code throws these; the GraphQL layer turns
 * them into `extensions.code` (and the extra fields below) in one place,
 * `graphql/format-error.ts`. They carry no GraphQL import so `auth/` stays
 * framework-free.
 *
 * Messages never contain the offending value: an input might be a password.
 */
export const ERROR_CODES = [
  "BAD_USER_INPUT",
  "EMAIL_TAKEN",
  "INVALID_CREDENTIALS",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "INVALID_REFRESH_TOKEN",
  "REFRESH_TOKEN_REUSED",
  "RATE_LIMITED",
  "NOT_FOUND",
  "INVALID_TOKEN",
  "MFA_REQUIRED",
  "REAUTHENTICATION_REQUIRED",
  "EMAIL_NOT_VERIFIED",
  "ACCOUNT_EXISTS",
  "FEATURE_DISABLED",
  "SERVICE_UNAVAILABLE",
  "INTERNAL_SERVER_ERROR",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Apollo Server's own codes for requests that fail before any resolver runs
 * (BEHAVIOUR.md §3 keeps them). Listed here so that the catalogue, the README
 * table and the tests can be checked against each other (tests/errors.test.ts).
 */
export const REQUEST_ERROR_CODES = [
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_REQUEST",
  "PERSISTED_QUERY_NOT_FOUND",
] as const;

export type UnauthenticatedReason = "MISSING" | "INVALID" | "EXPIRED" | "REVOKED";

export class AppError extends Error {
  override name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra, client-safe fields for `extensions` (field, reason, retryAfter, mfaToken, methods). */
    readonly details: Readonly<Record<string, string | number | readonly string[]>> = {},
  ) {
    super(message);
  }
}

export const badUserInput = (field: string, message: string) => new AppError("BAD_USER_INPUT", message, { field });

/** `field` names the input that held the address; none when it came from a token (an email change's link). */
export const emailTaken = (field: string | null = "email") =>
  new AppError("EMAIL_TAKEN", "An account with this email already exists", field === null ? {} : { field });

/** One message for unknown email and wrong password (OWASP Authentication CS). */
export const invalidCredentials = () => new AppError("INVALID_CREDENTIALS", "Invalid email or password");

/**
 * A wrong TOTP or recovery code (or passkey), or one already used: the same
 * code and message either way, so a replayed code tells nothing more.
 */
export const wrongSecondFactor = () =>
  new AppError("INVALID_CREDENTIALS", "The code is not right, or it was used already");

const unauthenticatedMessages: Record<UnauthenticatedReason, string> = {
  MISSING: "Sign in required: send an access token as `Authorization: Bearer <token>`",
  INVALID: "The access token is invalid",
  EXPIRED: "The access token has expired; refresh it",
  REVOKED: "The session of this access token has ended; sign in again",
};
export const unauthenticated = (reason: UnauthenticatedReason) =>
  new AppError("UNAUTHENTICATED", unauthenticatedMessages[reason], { reason });

export const forbidden = () => new AppError("FORBIDDEN", "You do not have the role this operation needs");

/**
 * `MISSING` when no token arrived at all (no argument and no cookie): a
 * client then knows to look at its transport (a cookie the browser never
 * stored: another site, SameSite) rather than at its token.
 */
export const invalidRefreshToken = (reason?: "MISSING") =>
  reason === "MISSING"
    ? new AppError(
        "INVALID_REFRESH_TOKEN",
        "No refresh token was sent: pass `refreshToken`, or send the refresh-token cookie (same site, HTTPS)",
        { reason },
      )
    : new AppError("INVALID_REFRESH_TOKEN", "The refresh token is unknown, expired or its session has ended");

export const refreshTokenReused = () =>
  new AppError(
    "REFRESH_TOKEN_REUSED",
    "This refresh token was already used; the session has been ended for safety. Sign in again",
  );

/** Throttled; `retryAfter` is whole seconds to wait, at least 1. */
export const rateLimited = (retryAfterSeconds: number) =>
  new AppError("RATE_LIMITED", "Too many attempts; try again later", {
    retryAfter: Math.max(1, Math.ceil(retryAfterSeconds)),
  });

export const notFound = (what: string) => new AppError("NOT_FOUND", `${what} not found`);

/**
 * A mailed link's token (and, later, an mfaToken, a passkey challenge or an
 * OAuth state) that is unknown, used, expired, replaced by a newer one, for
 * another purpose, or for an address the account no longer has. One message
 * for all: which of these it was helps only someone guessing.
 */
export const invalidToken = () =>
  new AppError("INVALID_TOKEN", "This link or token is invalid or has expired; request a new one");

/** How a sign-in that answered MFA_REQUIRED may be completed (BEHAVIOUR.md §8). */
export type MfaMethod = "TOTP" | "RECOVERY_CODE" | "PASSKEY";

/**
 * BEHAVIOUR.md §8: the first factor was right and the account has a second
 * one. `mfaToken` (single-use, 5 minutes) goes to `verifyMfa` with one of
 * `methods`. The token is for the client that proved the first factor: it is
 * the only secret this error carries, and only to that client.
 */
export const mfaRequired = (mfaToken: string, methods: readonly MfaMethod[]) =>
  new AppError("MFA_REQUIRED", "A second factor is required: call verifyMfa with the mfaToken", {
    mfaToken,
    methods,
  });

/** `startTotpSetup` while an app is active: one per account; remove it (disableTotp) to change apps. */
export const totpAlreadyEnabled = () =>
  new AppError(
    "BAD_USER_INPUT",
    "An authenticator app is already set up; remove it with disableTotp to set up another",
  );

/** BEHAVIOUR.md §8: a sensitive operation needs a sign-in within REAUTH_MAX_AGE seconds. */
export const reauthenticationRequired = () =>
  new AppError("REAUTHENTICATION_REQUIRED", "This operation needs a recent sign-in; sign in again and retry");

/** BEHAVIOUR.md §7, with REQUIRE_EMAIL_VERIFICATION on. */
export const emailNotVerified = () =>
  new AppError("EMAIL_NOT_VERIFIED", "Verify your email address first: open the link we sent, or ask for a new one");

/**
 * BEHAVIOUR.md §9: a provider's identity would sign into, or be linked to, an
 * account it may not take over. The message says what to do and nothing
 * more: not which account, not how it signs in, not what the provider said.
 */
export const accountExists = () =>
  new AppError(
    "ACCOUNT_EXISTS",
    "An account already exists for this identity: sign in the usual way, then link the provider from your account",
  );

/** Switched off by configuration (mail with MAIL_TRANSPORT=none, a provider not configured). */
export const featureDisabled = (feature: string) =>
  new AppError("FEATURE_DISABLED", `${feature} is not enabled on this server`);

/**
 * The database cannot be reached right now (BEHAVIOUR.md §3, §11): the client
 * should retry after `retryAfter` whole seconds (at least 1), as with an HTTP
 * 503 and its Retry-After (RFC 9110 §15.6.4, §10.2.3).
 */
export const serviceUnavailable = (retryAfterSeconds: number) =>
  new AppError("SERVICE_UNAVAILABLE", "The service is temporarily unavailable; try again shortly", {
    retryAfter: Math.max(1, Math.ceil(retryAfterSeconds)),
  });

/** The identity provider did not answer, or answered with a server error (§9): the same code as a database outage. */
export const providerUnavailable = (retryAfterSeconds: number) =>
  new AppError("SERVICE_UNAVAILABLE", "The identity provider cannot be reached right now; try again shortly", {
    retryAfter: Math.max(1, Math.ceil(retryAfterSeconds)),
  });

/**
 * Security events, as structured records (OWASP ASVS 16.3, Logging CS): what
 * happened, to which user id (never an email, password or token), from which
 * address, with what outcome. The sink decides where they go (the JSON log).
 */
export type AuthEventName =
  | "register"
  | "login"
  | "login_throttled"
  | "refresh"
  | "refresh_token_reused"
  | "logout"
  | "logout_all"
  | "session_revoked"
  | "password_changed"
  | "email_verification_requested"
  | "email_verified"
  | "password_reset_requested"
  | "password_reset"
  | "email_change_requested"
  | "email_changed"
  | "sign_in_email_requested"
  | "sign_in_email"
  | "email_request_failed"
  | "passkey_registered"
  | "passkey_deleted"
  | "passkey_assertion"
  | "passkey_sign_in"
  | "passkey_clone_suspected"
  | "mfa_required"
  | "mfa_verified"
  | "reauthenticated"
  | "totp_setup_started"
  | "totp_enabled"
  | "totp_disabled"
  | "recovery_codes_regenerated"
  | "recovery_code_used"
  | "oauth_sign_in"
  | "oauth_linked"
  | "oauth_unlinked";

export interface AuthEvent {
  event: AuthEventName;
  outcome: "success" | "failure";
  userId?: string;
  sessionId?: string;
  ip?: string | null;
  /** Machine-readable cause of a failure, e.g. UNKNOWN_EMAIL, WRONG_PASSWORD. */
  reason?: string;
  /** What an outside party answered (an identity provider's error code or failed check): never a token. */
  detail?: string;
}

export type AuthEventSink = (event: AuthEvent) => void;

export const ignoreEvents: AuthEventSink = () => {};

/**
 * The mails the server sends (BEHAVIOUR.md §7), and what each template is
 * given. The domain (`email/`, `auth/`) says which message to send to whom;
 * `mail/` renders it from the templates folder and delivers it through the
 * outbox. Params are plain strings so they can be stored (encrypted) in the
 * outbox row and rendered later, by whichever instance sends.
 */
export const MAIL_TEMPLATES = [
  "verify-email",
  "reset-password",
  "password-changed",
  "email-change-confirm",
  "email-change-notice",
  "sign-in",
  "second-factor-added",
  "second-factor-removed",
  "recovery-code-used",
  "second-factors-reset",
  "provider-linked",
  "provider-unlinked",
] as const;
export type MailTemplate = (typeof MAIL_TEMPLATES)[number];

/** The params each template receives (besides `productName` and `appUrl`, which the renderer adds). */
export interface MailParams {
  /** A link to the frontend with `?token=…`; the address it was sent to. */
  "verify-email": { link: string; expiresInMinutes: string };
  "reset-password": { link: string; expiresInMinutes: string };
  "password-changed": Record<string, never>;
  /** Sent to the new address. */
  "email-change-confirm": { link: string; newEmail: string; expiresInMinutes: string };
  /** Sent to the old address: someone asked to move the account to `newEmail`. */
  "email-change-notice": { newEmail: string };
  /** A link and a 6-digit code; either signs in. */
  "sign-in": { link: string; code: string; expiresInMinutes: string };
  /** BEHAVIOUR.md §8: a factor was added or removed; `factor` names it ("An authenticator app", "The passkey “Work laptop”"). */
  "second-factor-added": { factor: string };
  "second-factor-removed": { factor: string };
  /** A recovery code signed someone in; `remaining` codes are left. */
  "recovery-code-used": { remaining: string };
  /** The operator's `reset-mfa` removed every factor. */
  "second-factors-reset": Record<string, never>;
  /** BEHAVIOUR.md §9: an identity at `provider` (its display name) now signs in to the account, or no longer does. */
  "provider-linked": { provider: string };
  "provider-unlinked": { provider: string };
}

export type OutgoingMail = {
  [T in MailTemplate]: { template: T; to: string; params: MailParams[T] };
}[MailTemplate];

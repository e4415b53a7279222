import { EmailToken } from "./EmailToken";
import { LoginAttempt } from "./LoginAttempt";
import { MailMessage } from "./MailMessage";
import { Note } from "./Note";
import { Passkey } from "./Passkey";
import { RateLimitCounter } from "./RateLimitCounter";
import { Session } from "./Session";
import { User } from "./User";
import { WebAuthnChallenge } from "./WebAuthnChallenge";

export { EMAIL_TOKEN_PURPOSES, type EmailTokenPurpose } from "./EmailToken";
export type { MailStatus } from "./MailMessage";
export type { SessionEndReason } from "./Session";
export { ROLES, type Role } from "./User";
export { WEBAUTHN_PURPOSES, type WebAuthnPurpose } from "./WebAuthnChallenge";
export { EmailToken, LoginAttempt, MailMessage, Note, Passkey, RateLimitCounter, Session, User, WebAuthnChallenge };

export const entities = [
  User,
  Session,
  Note,
  LoginAttempt,
  RateLimitCounter,
  EmailToken,
  MailMessage,
  Passkey,
  WebAuthnChallenge,
];

import { EmailToken } from "./EmailToken";
import { LinkedAccount } from "./LinkedAccount";
import { LoginAttempt } from "./LoginAttempt";
import { MailMessage } from "./MailMessage";
import { MfaChallenge } from "./MfaChallenge";
import { Note } from "./Note";
import { OAuthFlow } from "./OAuthFlow";
import { Passkey } from "./Passkey";
import { RateLimitCounter } from "./RateLimitCounter";
import { RecoveryCode } from "./RecoveryCode";
import { Session } from "./Session";
import { TotpCredential } from "./TotpCredential";
import { User } from "./User";
import { WebAuthnChallenge } from "./WebAuthnChallenge";

export { EMAIL_TOKEN_PURPOSES, type EmailTokenPurpose } from "./EmailToken";
export type { MailStatus } from "./MailMessage";
export type { SessionEndReason } from "./Session";
export { ROLES, type Role } from "./User";
export { WEBAUTHN_PURPOSES, type WebAuthnPurpose } from "./WebAuthnChallenge";
export {
  EmailToken,
  LinkedAccount,
  LoginAttempt,
  MailMessage,
  MfaChallenge,
  Note,
  OAuthFlow,
  Passkey,
  RateLimitCounter,
  RecoveryCode,
  Session,
  TotpCredential,
  User,
  WebAuthnChallenge,
};

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
  TotpCredential,
  RecoveryCode,
  MfaChallenge,
  OAuthFlow,
  LinkedAccount,
];

import { EmailToken } from "./EmailToken";
import { LoginAttempt } from "./LoginAttempt";
import { MailMessage } from "./MailMessage";
import { MfaChallenge } from "./MfaChallenge";
import { Note } from "./Note";
import { RateLimitCounter } from "./RateLimitCounter";
import { RecoveryCode } from "./RecoveryCode";
import { Session } from "./Session";
import { TotpCredential } from "./TotpCredential";
import { User } from "./User";

export { EMAIL_TOKEN_PURPOSES, type EmailTokenPurpose } from "./EmailToken";
export type { MailStatus } from "./MailMessage";
export type { SessionEndReason } from "./Session";
export { ROLES, type Role } from "./User";
export {
  EmailToken,
  LoginAttempt,
  MailMessage,
  MfaChallenge,
  Note,
  RateLimitCounter,
  RecoveryCode,
  Session,
  TotpCredential,
  User,
};

export const entities = [
  User,
  Session,
  Note,
  LoginAttempt,
  RateLimitCounter,
  EmailToken,
  MailMessage,
  TotpCredential,
  RecoveryCode,
  MfaChallenge,
];

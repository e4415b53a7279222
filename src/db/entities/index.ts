import { LoginFailure } from "./LoginFailure";
import { Note } from "./Note";
import { RateLimitCounter } from "./RateLimitCounter";
import { RefreshToken } from "./RefreshToken";
import { Session } from "./Session";
import { User } from "./User";

export type { SessionEndReason } from "./Session";
export { sessionIsActive } from "./Session";
export { ROLES, type Role } from "./User";
export { LoginFailure, Note, RateLimitCounter, RefreshToken, Session, User };

export const entities = [User, Session, RefreshToken, Note, LoginFailure, RateLimitCounter];

import { LoginFailure } from "./LoginFailure";
import { Note } from "./Note";
import { RateLimitCounter } from "./RateLimitCounter";
import { Session } from "./Session";
import { User } from "./User";

export type { SessionEndReason } from "./Session";
export { ROLES, type Role } from "./User";
export { LoginFailure, Note, RateLimitCounter, Session, User };

export const entities = [User, Session, Note, LoginFailure, RateLimitCounter];

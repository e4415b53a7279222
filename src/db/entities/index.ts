import { Note } from "./Note";
import { RefreshToken } from "./RefreshToken";
import { Session } from "./Session";
import { User } from "./User";

export type { SessionEndReason } from "./Session";
export { ROLES, type Role } from "./User";
export { Note, RefreshToken, Session, User };

export const entities = [User, Session, RefreshToken, Note];

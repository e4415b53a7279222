import { RefreshToken } from "./RefreshToken";
import { Session } from "./Session";
import { User } from "./User";

export { RefreshToken, Session, User };
export { ROLES, type Role } from "./User";
export type { SessionEndReason } from "./Session";

export const entities = [User, Session, RefreshToken];

import { randomUUID } from "node:crypto";
import { Entity, Index, ManyToOne, OptionalProps, PrimaryKey, Property, t } from "@mikro-orm/core";
import { User } from "./User";

export type SessionEndReason =
  | "LOGOUT"
  | "LOGOUT_ALL"
  | "REVOKED"
  | "PASSWORD_CHANGED"
  | "PASSWORD_RESET"
  | "OPERATOR"
  | "REFRESH_TOKEN_REUSED";

/**
 * One signed-in device. Its refresh state is a few columns, not a row per
 * token (BEHAVIOUR.md §6.1; `auth/rotation.ts` says what each means). The
 * entity describes the table for migrations; reads and writes go through
 * `stores/session-store.ts`.
 */
@Entity({ tableName: "sessions" })
@Index({ properties: ["user", "createdAt"] })
// Maintenance finds dead sessions by each way of dying.
@Index({ properties: ["endedAt"] })
@Index({ properties: ["expiresAt"] })
@Index({ properties: ["lastUsedAt"] })
export class Session {
  [OptionalProps]?:
    | "createdAt"
    | "lastUsedAt"
    | "endedAt"
    | "endReason"
    | "userAgent"
    | "ip"
    | "refreshGeneration"
    | "refreshRotatedAt"
    | "refreshRetiredBelow"
    | "refreshKeyId"
    | "legacyTokenHash"
    | "authenticatedAt"
    | "amr";

  @PrimaryKey({ type: "uuid" })
  id: string = randomUUID();

  @ManyToOne({ entity: () => User, deleteRule: "cascade" })
  user!: User;

  @Property({ type: t.datetime })
  createdAt: Date = new Date();

  /** The last exchange of its refresh token (or the sign-in): the idle lifetime counts from here. */
  @Property({ type: t.datetime })
  lastUsedAt: Date = new Date();

  /** Absolute end: refreshing never extends a session past it. */
  @Property({ type: t.datetime })
  expiresAt!: Date;

  @Property({ type: t.datetime, nullable: true })
  endedAt: Date | null = null;

  @Property({ type: "string", length: 32, nullable: true })
  endReason: SessionEndReason | null = null;

  @Property({ type: "string", length: 512, nullable: true })
  userAgent: string | null = null;

  @Property({ type: "string", length: 64, nullable: true })
  ip: string | null = null;

  /**
   * When the session last proved who the user is (the access token's
   * `auth_time`, BEHAVIOUR.md §5): its sign-in, or a later re-authentication.
   * Null only for sessions carried over from before it was kept: their
   * `createdAt` stands in.
   */
  @Property({ type: t.datetime, nullable: true })
  authenticatedAt: Date | null = null;

  /** How: RFC 8176 method values, comma-separated (`pwd`, `email`, …); null (carried over) means `pwd`. */
  @Property({ type: "string", length: 64, nullable: true })
  amr: string | null = null;

  /** Generation of the refresh token that rotates now. */
  @Property({ type: "integer", default: 0 })
  refreshGeneration = 0;

  /** When the previous generation was exchanged for the current one; null since a password change. */
  @Property({ type: t.datetime, nullable: true })
  refreshRotatedAt: Date | null = null;

  /** Refresh tokens of a lower generation were retired by a password change or reset. */
  @Property({ type: "integer", default: 0 })
  refreshRetiredBelow = 0;

  /** 32 random bytes (hex), half of every refresh-token proof; the other half is a key the database never holds. */
  @Property({ type: "string", length: 64, hidden: true })
  refreshSecret!: string;

  /** Id (hex) of the SECRET_KEYS key that made the current generation's token. */
  @Property({ type: "string", length: 8, nullable: true })
  refreshKeyId: string | null = null;

  /** SHA-256 of the version 1 refresh token a carried-over session had; it counts as generation 0. */
  @Index()
  @Property({ type: "string", length: 64, nullable: true, hidden: true })
  legacyTokenHash: string | null = null;
}

import { randomUUID } from "node:crypto";
import { Entity, Index, ManyToOne, OptionalProps, PrimaryKey, Property, t } from "@mikro-orm/core";
import { User } from "./User";

export type SessionEndReason =
  | "LOGOUT"
  | "LOGOUT_ALL"
  | "REVOKED"
  | "PASSWORD_CHANGED"
  | "OPERATOR"
  | "REFRESH_TOKEN_REUSED";

/** Whether a session may still be used: not ended and before its absolute end. Also applied to raw rows. */
export function sessionIsActive(endedAt: Date | null, expiresAt: Date, now: Date): boolean {
  return endedAt === null && expiresAt > now;
}

/** One signed-in device: a chain of rotated refresh tokens under one absolute lifetime. */
@Entity({ tableName: "sessions" })
@Index({ properties: ["user", "createdAt"] })
export class Session {
  [OptionalProps]?: "createdAt" | "lastUsedAt" | "endedAt" | "endReason" | "userAgent" | "ip";

  @PrimaryKey({ type: "uuid" })
  id: string = randomUUID();

  @ManyToOne({ entity: () => User, deleteRule: "cascade" })
  user!: User;

  @Property({ type: t.datetime })
  createdAt: Date = new Date();

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

  isActive(now: Date): boolean {
    return sessionIsActive(this.endedAt, this.expiresAt, now);
  }
}

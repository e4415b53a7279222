import { randomUUID } from "node:crypto";
import { Entity, Index, ManyToOne, OptionalProps, PrimaryKey, Property, t } from "@mikro-orm/core";
import { Session } from "./Session";

/**
 * One issued refresh token. Rows are kept after use: a used token coming back
 * is how theft is detected (RFC 9700 §4.14.2, refresh token rotation).
 */
@Entity({ tableName: "refresh_tokens" })
export class RefreshToken {
  [OptionalProps]?: "parentId" | "createdAt" | "usedAt";

  @PrimaryKey({ type: "uuid" })
  id: string = randomUUID();

  @Index()
  @ManyToOne({ entity: () => Session, deleteRule: "cascade" })
  session!: Session;

  /** SHA-256 of the token (base64url); the token itself is never stored. */
  @Property({ type: "string", length: 64, unique: true })
  tokenHash!: string;

  /** The token this one was issued in exchange for; null for the first of a session. */
  @Index()
  @Property({ type: "uuid", nullable: true })
  parentId: string | null = null;

  @Property({ type: t.datetime })
  createdAt: Date = new Date();

  /** Idle expiry: unused past this, the token no longer works. */
  @Property({ type: t.datetime })
  expiresAt!: Date;

  /** First time the token was exchanged; the grace rule counts from here. */
  @Property({ type: t.datetime, nullable: true })
  usedAt: Date | null = null;
}

import { Entity, Index, ManyToOne, PrimaryKey, Property, t, Unique } from "@mikro-orm/core";
import { User } from "./User";

export const EMAIL_TOKEN_PURPOSES = ["verify-email", "reset-password", "email-change", "sign-in"] as const;
export type EmailTokenPurpose = (typeof EMAIL_TOKEN_PURPOSES)[number];

/**
 * The live token a user has for one purpose of a mail (BEHAVIOUR.md §7): one
 * row per user and purpose, so a newer token replaces (voids) the older one
 * and the table never grows with requests. Only a hash of the token is kept;
 * a used one stays marked until maintenance deletes it. The entity describes
 * the table for migrations; reads and writes go through
 * `stores/email-token-store.ts`.
 */
@Entity({ tableName: "email_tokens" })
@Unique({ properties: ["user", "purpose"] })
// Maintenance deletes used and expired tokens, oldest first.
@Index({ properties: ["expiresAt"] })
export class EmailToken {
  @PrimaryKey({ type: "uuid" })
  id!: string;

  @ManyToOne({ entity: () => User, deleteRule: "cascade" })
  user!: User;

  @Property({ type: "string", length: 16 })
  purpose!: EmailTokenPurpose;

  /** The address it was sent to: the token is void once the account's address is another (for a change: the new one). */
  @Property({ type: "string", length: 254 })
  email!: string;

  /** SHA-256 (base64url) of the token: it is 256 random bits, so no key is needed to make the hash useless to a thief. */
  @Property({ type: "string", length: 64, unique: true })
  tokenHash!: string;

  /**
   * A sign-in mail's 6-digit code, as an HMAC under a key derived from
   * SECRET_KEYS: a million codes are hashed in a moment, so a bare hash in a
   * copy of the database would give the code away.
   */
  @Property({ type: "string", length: 64, nullable: true })
  codeHash: string | null = null;

  /** Id (hex) of the SECRET_KEYS key the code's HMAC was made with. */
  @Property({ type: "string", length: 8, nullable: true })
  codeKeyId: string | null = null;

  /** Wrong codes typed so far; at the limit the code is dead (the link still works). */
  @Property({ type: "integer", default: 0 })
  codeAttempts = 0;

  @Property({ type: t.datetime })
  createdAt!: Date;

  @Property({ type: t.datetime })
  expiresAt!: Date;

  @Property({ type: t.datetime, nullable: true })
  usedAt: Date | null = null;
}

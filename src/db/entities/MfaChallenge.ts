import { Entity, Index, ManyToOne, PrimaryKey, Property, t } from "@mikro-orm/core";
import { User } from "./User";

/**
 * A sign-in whose first factor was right and that waits for the second
 * (MFA_REQUIRED, BEHAVIOUR.md §8): the `mfaToken` the client holds is known
 * here only by its SHA-256. Single-use, 5 minutes, dead after 5 wrong codes.
 * Reads and writes go through `stores/mfa-challenge-store.ts`.
 */
@Entity({ tableName: "mfa_challenges" })
// Maintenance deletes used and expired challenges, oldest first.
@Index({ properties: ["expiresAt"] })
@Index({ properties: ["usedAt"] })
export class MfaChallenge {
  @PrimaryKey({ type: "uuid" })
  id!: string;

  @ManyToOne({ entity: () => User, deleteRule: "cascade" })
  user!: User;

  /** SHA-256 (base64url) of the mfaToken: 256 random bits, so no key is needed. */
  @Property({ type: "string", length: 64, unique: true })
  tokenHash!: string;

  /** RFC 8176 values of the first factor (`pwd`, `email`, …), comma-separated; the session's amr starts with them. */
  @Property({ type: "string", length: 64 })
  firstAmr!: string;

  /** Wrong second factors presented so far; at 5 the challenge is dead. */
  @Property({ type: "integer", default: 0 })
  attempts = 0;

  @Property({ type: t.datetime })
  createdAt!: Date;

  @Property({ type: t.datetime })
  expiresAt!: Date;

  @Property({ type: t.datetime, nullable: true })
  usedAt: Date | null = null;
}

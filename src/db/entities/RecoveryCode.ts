import { Entity, Index, ManyToOne, PrimaryKey, Property, t, Unique } from "@mikro-orm/core";
import { User } from "./User";

/**
 * One of a user's single-use recovery codes (BEHAVIOUR.md §8): ten are made
 * when an authenticator app is confirmed or the codes are regenerated. Only a
 * SHA-256 of each is kept: a code is 80 random bits, so a copy of the table
 * gives none away. Reads and writes go through `stores/recovery-code-store.ts`.
 */
@Entity({ tableName: "recovery_codes" })
@Unique({ properties: ["user", "codeHash"] })
@Index({ properties: ["user", "usedAt"] })
export class RecoveryCode {
  @PrimaryKey({ type: "uuid" })
  id!: string;

  @ManyToOne({ entity: () => User, deleteRule: "cascade" })
  user!: User;

  /** SHA-256 (base64url) of the normalised code. */
  @Property({ type: "string", length: 64 })
  codeHash!: string;

  @Property({ type: t.datetime })
  createdAt!: Date;

  @Property({ type: t.datetime, nullable: true })
  usedAt: Date | null = null;
}

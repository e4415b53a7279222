import { Entity, ManyToOne, PrimaryKey, Property, t, Unique } from "@mikro-orm/core";
import { User } from "./User";

/**
 * A user's authenticator app (RFC 6238), one row per user: pending from
 * `startTotpSetup` until `confirmTotpSetup` sets `confirmedAt` (BEHAVIOUR.md
 * §8). The entity describes the table for migrations; reads and writes go
 * through `stores/totp-store.ts`.
 */
@Entity({ tableName: "totp_credentials" })
@Unique({ properties: ["user"] })
export class TotpCredential {
  @PrimaryKey({ type: "uuid" })
  id!: string;

  @ManyToOne({ entity: () => User, deleteRule: "cascade" })
  user!: User;

  /**
   * The shared secret, sealed with AES-256-GCM under the "totp-secret" key
   * derived from SECRET_KEYS (mfa/totp-secret-cipher.ts): format, key id, IV,
   * tag, ciphertext, base64url. The key id lets a rotation of SECRET_KEYS keep
   * it readable while the old key is listed.
   */
  @Property({ type: "string", length: 128, hidden: true })
  secret!: string;

  /** Null while pending: nothing is asked at sign-in until the first code confirmed it. */
  @Property({ type: t.datetime, nullable: true })
  confirmedAt: Date | null = null;

  /** The last time step (Unix time / 30 s) a code was accepted for: a code of that step or an earlier one is refused (replay). */
  @Property({ type: "integer", nullable: true })
  lastUsedStep: number | null = null;

  @Property({ type: t.datetime })
  createdAt!: Date;
}

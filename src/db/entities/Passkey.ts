import { Entity, Index, ManyToOne, PrimaryKey, Property, t } from "@mikro-orm/core";
import { User } from "./User";

/**
 * A WebAuthn credential a user registered (BEHAVIOUR.md §8). The entity
 * describes the table for migrations; reads and writes go through
 * `stores/passkey-store.ts`.
 */
@Entity({ tableName: "passkeys" })
@Index({ properties: ["user", "createdAt"] })
export class Passkey {
  @PrimaryKey({ type: "uuid" })
  id!: string;

  @ManyToOne({ entity: () => User, deleteRule: "cascade" })
  user!: User;

  /** The credential id (base64url) the authenticator names it by; at most 1,023 bytes (WebAuthn L3 §5.8.3). */
  @Property({ type: "string", length: 1400, unique: true })
  credentialId!: string;

  /** The COSE public key (base64url). Not a secret: it verifies, it cannot sign. */
  @Property({ type: "text" })
  publicKey!: string;

  /** The authenticator's signature counter (uint32) after the last use; 0 for authenticators that keep none (synced passkeys). */
  @Property({ type: "bigint" })
  signCount!: number;

  /** Comma-separated hints the browser gave (`internal`, `hybrid`, `usb`, …), sent back in allowCredentials. */
  @Property({ type: "string", length: 200, nullable: true })
  transports: string | null = null;

  /** `singleDevice` or `multiDevice` (backup eligible: synced to the user's other devices). */
  @Property({ type: "string", length: 16 })
  deviceType!: string;

  /** The authenticator said it is backed up (synced) as of the last use. */
  @Property({ type: "boolean" })
  backedUp!: boolean;

  /** The user's label, 1–64 characters. */
  @Property({ type: "string", length: 64 })
  name!: string;

  @Property({ type: t.datetime })
  createdAt!: Date;

  @Property({ type: t.datetime, nullable: true })
  lastUsedAt: Date | null = null;
}

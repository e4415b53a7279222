import { Entity, Index, ManyToOne, PrimaryKey, Property, t } from "@mikro-orm/core";
import { User } from "./User";

export const WEBAUTHN_PURPOSES = ["registration", "authentication"] as const;
export type WebAuthnPurpose = (typeof WEBAUTHN_PURPOSES)[number];

/**
 * A WebAuthn ceremony in progress (BEHAVIOUR.md §8): single-use, for 5
 * minutes. Its id is the `challengeId` the client sends back; the challenge
 * the authenticator signs is kept as its SHA-256 only. The entity describes
 * the table for migrations; reads and writes go through
 * `stores/webauthn-challenge-store.ts`.
 */
@Entity({ tableName: "webauthn_challenges" })
// Maintenance deletes used and expired challenges, oldest first.
@Index({ properties: ["expiresAt"] })
export class WebAuthnChallenge {
  @PrimaryKey({ type: "uuid" })
  id!: string;

  /** SHA-256 (base64url) of the challenge sent in the options. */
  @Property({ type: "string", length: 64 })
  challengeHash!: string;

  @Property({ type: "string", length: 16 })
  purpose!: WebAuthnPurpose;

  /** Whose ceremony: null for a discoverable sign-in, where the passkey says who. */
  @ManyToOne({ entity: () => User, deleteRule: "cascade", nullable: true })
  user: User | null = null;

  /**
   * What else the ceremony is bound to, compared exactly when it finishes: the
   * session that started a registration, or the caller's context of an
   * authentication (an MFA challenge). Null for a plain passkey sign-in.
   */
  @Property({ type: "string", length: 128, nullable: true })
  binding: string | null = null;

  @Property({ type: t.datetime })
  createdAt!: Date;

  @Property({ type: t.datetime })
  expiresAt!: Date;

  @Property({ type: t.datetime, nullable: true })
  usedAt: Date | null = null;
}

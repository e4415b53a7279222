import { Entity, Index, ManyToOne, PrimaryKey, Property, t } from "@mikro-orm/core";
import { User } from "./User";

/**
 * A sign-in with an identity provider in progress (BEHAVIOUR.md §9):
 * single-use, 10 minutes. Found by the SHA-256 of its `state`; the PKCE
 * verifier and the nonce are not stored at all but derived from the state
 * under the "oauth-state" key (`oauth/oauth-flows.ts`), so a copy of this
 * table cannot finish anyone's sign-in. Reads and writes go through
 * `stores/oauth-store.ts`.
 */
@Entity({ tableName: "oauth_flows" })
// Maintenance deletes used and expired flows, oldest first.
@Index({ properties: ["expiresAt"] })
export class OAuthFlow {
  @PrimaryKey({ type: "uuid" })
  id!: string;

  /** SHA-256 (base64url) of the state sent to the provider. */
  @Property({ type: "string", length: 64, unique: true })
  stateHash!: string;

  /** Id (4 bytes, hex) of the SECRET_KEYS key the verifier and nonce were derived under. */
  @Property({ type: "string", length: 8 })
  keyId!: string;

  @Property({ type: "string", length: 32 })
  provider!: string;

  /** The redirect URI of the authorization request: the code exchange must name it again. */
  @Property({ type: "string", length: 2048 })
  redirectUri!: string;

  /** Who was signed in when it started: only they may link the identity it yields. */
  @ManyToOne({ entity: () => User, deleteRule: "cascade", nullable: true })
  user: User | null = null;

  @Property({ type: t.datetime })
  createdAt!: Date;

  @Property({ type: t.datetime })
  expiresAt!: Date;

  @Property({ type: t.datetime, nullable: true })
  usedAt: Date | null = null;
}

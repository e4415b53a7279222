import type { EntityManager } from "@mikro-orm/core";
import { batchDeleteSql, dateOf, execute, queryRows, type Row } from "../sql";
import type { Dialect } from "./session-store";

/** A sign-in with a provider in progress, as `oauth/oauth-flows.ts` judges it. */
export interface StoredFlow {
  id: string;
  provider: string;
  redirectUri: string;
  /** Hex id of the SECRET_KEYS key its verifier and nonce derive from. */
  keyId: string;
  /** Who was signed in when it started (only they may link with it). */
  userId: string | null;
  expiresAt: Date;
  usedAt: Date | null;
}

export interface NewFlow extends Omit<StoredFlow, "usedAt"> {
  stateHash: string;
  createdAt: Date;
}

/** A provider identity linked to a user (BEHAVIOUR.md §9). */
export interface StoredLinkedAccount {
  id: string;
  userId: string;
  provider: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  createdAt: Date;
}

/** The ways a user can still sign in, counted where unlinking could take the last one away. */
export interface SignInMethods {
  password: boolean;
  passkeys: number;
  linkedAccounts: number;
}

const LINK_COLUMNS = "id, user_id, provider, subject, email, email_verified, created_at";
const SQL = {
  insertFlow: `insert into oauth_flows (id, state_hash, key_id, provider, redirect_uri, user_id, created_at, expires_at, used_at)
    values (?, ?, ?, ?, ?, ?, ?, ?, null)`,
  flowByState:
    "select id, provider, redirect_uri, key_id, user_id, expires_at, used_at from oauth_flows where state_hash = ?",
  // The conditions again, so of concurrent finishes exactly one wins (PostgreSQL re-checks them after the row lock).
  consumeFlow: "update oauth_flows set used_at = ? where id = ? and used_at is null and expires_at > ?",
  linkByIdentity: `select ${LINK_COLUMNS} from linked_accounts where provider = ? and subject = ?`,
  linksOfUser: `select ${LINK_COLUMNS} from linked_accounts where user_id = ? order by created_at, id`,
  insertLink: `insert into linked_accounts (id, user_id, provider, subject, email, email_verified, created_at, last_used_at)
    values (?, ?, ?, ?, ?, ?, ?, ?)`,
  touchLink: "update linked_accounts set email = ?, email_verified = ?, last_used_at = ? where id = ?",
  deleteLink: "delete from linked_accounts where id = ? and user_id = ?",
  // Identities linked without the provider vouching for their address (see `dropUnverifiedLinks`).
  deleteUnverifiedLinks: "delete from linked_accounts where user_id = ? and email_verified = ?",
  methods: `select
      (select count(*) from users where id = ? and password_hash is not null) as password,
      (select count(*) from passkeys where user_id = ?) as passkeys,
      (select count(*) from linked_accounts where user_id = ?) as links`,
} as const;

/** Every SQL statement about provider sign-ins and linked identities (BEHAVIOUR.md §9). */
export class OAuthStore {
  private readonly pruneUsedSql: string;
  private readonly pruneExpiredSql: string;

  constructor(dialect: Dialect) {
    this.pruneUsedSql = batchDeleteSql(dialect, "oauth_flows", "id", "used_at", "<");
    this.pruneExpiredSql = batchDeleteSql(dialect, "oauth_flows", "id", "expires_at", "<");
  }

  async insertFlow(em: EntityManager, f: NewFlow): Promise<void> {
    await execute(em, SQL.insertFlow, [
      f.id,
      f.stateHash,
      f.keyId,
      f.provider,
      f.redirectUri,
      f.userId,
      f.createdAt,
      f.expiresAt,
    ]);
  }

  async findFlowByStateHash(em: EntityManager, stateHash: string): Promise<StoredFlow | null> {
    const [row] = await queryRows(em, SQL.flowByState, [stateHash]);
    return row === undefined ? null : flowOf(row);
  }

  /** Marks it used if it still is unused and unexpired; true when this call used it. */
  async consumeFlow(em: EntityManager, id: string, now: Date): Promise<boolean> {
    return (await execute(em, SQL.consumeFlow, [now, id, now])) > 0;
  }

  async findLink(em: EntityManager, provider: string, subject: string): Promise<StoredLinkedAccount | null> {
    const [row] = await queryRows(em, SQL.linkByIdentity, [provider, subject]);
    return row === undefined ? null : linkOf(row);
  }

  async linksOf(em: EntityManager, userId: string): Promise<StoredLinkedAccount[]> {
    return (await queryRows(em, SQL.linksOfUser, [userId])).map(linkOf);
  }

  /** Throws the driver's UniqueConstraintViolationException when the identity is linked already (to anyone). */
  async insertLink(em: EntityManager, link: StoredLinkedAccount): Promise<void> {
    await execute(em, SQL.insertLink, [
      link.id,
      link.userId,
      link.provider,
      link.subject,
      link.email,
      link.emailVerified,
      link.createdAt,
      link.createdAt,
    ]);
  }

  /** A sign-in through it: what the provider says now about the email, and when. False when the link is gone. */
  async touchLink(em: EntityManager, id: string, email: string | null, emailVerified: boolean, now: Date) {
    return (await execute(em, SQL.touchLink, [email, emailVerified, now, id])) > 0;
  }

  /** True when the link existed and was the user's. */
  async deleteLink(em: EntityManager, id: string, userId: string): Promise<boolean> {
    return (await execute(em, SQL.deleteLink, [id, userId])) > 0;
  }

  /** Removes the user's links whose provider did not say the address was verified; how many. */
  dropUnverifiedLinks(em: EntityManager, userId: string): Promise<number> {
    return execute(em, SQL.deleteUnverifiedLinks, [userId, false]);
  }

  async signInMethods(em: EntityManager, userId: string): Promise<SignInMethods> {
    const [row = {}] = await queryRows(em, SQL.methods, [userId, userId, userId]);
    return { password: Number(row.password) > 0, passkeys: Number(row.passkeys), linkedAccounts: Number(row.links) };
  }

  /** Maintenance: at most `limit` flows finished before `before`; how many were deleted. */
  pruneUsed(em: EntityManager, before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneUsedSql, [before, limit, before]);
  }

  /** Maintenance: at most `limit` flows that expired before `before`. */
  pruneExpired(em: EntityManager, before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneExpiredSql, [before, limit, before]);
  }
}

function flowOf(row: Row): StoredFlow {
  return {
    id: String(row.id),
    provider: String(row.provider),
    redirectUri: String(row.redirect_uri),
    keyId: String(row.key_id),
    userId: row.user_id == null ? null : String(row.user_id),
    expiresAt: dateOf(row.expires_at),
    usedAt: row.used_at == null ? null : dateOf(row.used_at),
  };
}

function linkOf(row: Row): StoredLinkedAccount {
  return {
    id: String(row.id),
    userId: String(row.user_id),
    provider: String(row.provider),
    subject: String(row.subject),
    email: row.email == null ? null : String(row.email),
    // SQLite keeps booleans as 0/1.
    emailVerified: row.email_verified === true || Number(row.email_verified) === 1,
    createdAt: dateOf(row.created_at),
  };
}

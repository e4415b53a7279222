import type { EntityManager } from "@mikro-orm/core";
import type { EmailTokenPurpose } from "../entities";
import { batchDeleteSql, dateOf, execute, queryRows, type Row } from "../sql";
import type { Dialect } from "./session-store";

/** A mailed token as the domain judges it (`email/email-tokens.ts`). */
export interface StoredEmailToken {
  id: string;
  userId: string;
  purpose: EmailTokenPurpose;
  /** The address it was sent to. */
  sentTo: string;
  /** The account's address now. */
  accountEmail: string;
  expiresAt: Date;
  usedAt: Date | null;
  codeHash: string | null;
  codeKeyId: string | null;
  codeAttempts: number;
}

export interface NewEmailToken {
  id: string;
  userId: string;
  purpose: EmailTokenPurpose;
  sentTo: string;
  tokenHash: string;
  codeHash: string | null;
  codeKeyId: string | null;
  now: Date;
  expiresAt: Date;
}

const COLUMNS = `t.id as t_id, t.user_id as t_user_id, t.purpose as t_purpose, t.email as t_email,
  t.expires_at as t_expires_at, t.used_at as t_used_at, t.code_hash as t_code_hash, t.code_key_id as t_code_key_id,
  t.code_attempts as t_code_attempts, u.email as u_email`;

const SQL = {
  // One live token per user and purpose: a new one takes the row over, which voids the old.
  issue: `insert into email_tokens (id, user_id, purpose, email, token_hash, code_hash, code_key_id, code_attempts,
      created_at, expires_at, used_at)
    values (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, null)
    on conflict (user_id, purpose) do update set email = excluded.email, token_hash = excluded.token_hash,
      code_hash = excluded.code_hash, code_key_id = excluded.code_key_id, code_attempts = 0,
      created_at = excluded.created_at, expires_at = excluded.expires_at, used_at = null`,
  byHash: `select ${COLUMNS} from email_tokens t join users u on u.id = t.user_id where t.token_hash = ?`,
  byAccountEmail: `select ${COLUMNS} from email_tokens t join users u on u.id = t.user_id
    where u.email = ? and t.purpose = ?`,
  // The conditions again, so two presenters of one token cannot both win (PostgreSQL re-checks them after the row lock).
  consume: `update email_tokens set used_at = ? where id = ? and token_hash = ? and used_at is null and expires_at > ?`,
  consumeById: "update email_tokens set used_at = ? where id = ? and used_at is null and expires_at > ?",
  wrongCode: "update email_tokens set code_attempts = code_attempts + 1 where id = ?",
  deleteAllOfUser: "delete from email_tokens where user_id = ?",
} as const;

/**
 * Every SQL statement about mailed tokens (BEHAVIOUR.md §7). Lock order
 * (README "Concurrency"): a transaction that locks sessions takes them first,
 * then email tokens, then the user's row.
 */
export class EmailTokenStore {
  private readonly byAccountEmailSql: string;
  private readonly pruneUsedSql: string;
  private readonly pruneExpiredSql: string;

  constructor(dialect: Dialect) {
    // A code check reads, compares and counts a wrong try: the row is held meanwhile (SQLite: BEGIN IMMEDIATE).
    this.byAccountEmailSql = dialect === "postgres" ? `${SQL.byAccountEmail} for update of t` : SQL.byAccountEmail;
    this.pruneUsedSql = batchDeleteSql(dialect, "email_tokens", "id", "used_at", "<");
    this.pruneExpiredSql = batchDeleteSql(dialect, "email_tokens", "id", "expires_at", "<");
  }

  async issue(tx: EntityManager, t: NewEmailToken): Promise<void> {
    await execute(tx, SQL.issue, [
      t.id,
      t.userId,
      t.purpose,
      t.sentTo,
      t.tokenHash,
      t.codeHash,
      t.codeKeyId,
      t.now,
      t.expiresAt,
    ]);
  }

  async findByHash(em: EntityManager, tokenHash: string): Promise<StoredEmailToken | null> {
    const [row] = await queryRows(em, SQL.byHash, [tokenHash]);
    return row === undefined ? null : tokenOf(row);
  }

  /** Inside a transaction: the token of `purpose` of the account with this (normalised) email, locked. */
  async lockByAccountEmail(
    tx: EntityManager,
    email: string,
    purpose: EmailTokenPurpose,
  ): Promise<StoredEmailToken | null> {
    const [row] = await queryRows(tx, this.byAccountEmailSql, [email, purpose]);
    return row === undefined ? null : tokenOf(row);
  }

  /** Marks the token used if it still is the row's token, unused and unexpired; true when this call used it. */
  async consume(tx: EntityManager, id: string, tokenHash: string, now: Date): Promise<boolean> {
    return (await execute(tx, SQL.consume, [now, id, tokenHash, now])) > 0;
  }

  /** The same, for a row the caller holds locked (a code check). */
  async consumeLocked(tx: EntityManager, id: string, now: Date): Promise<boolean> {
    return (await execute(tx, SQL.consumeById, [now, id, now])) > 0;
  }

  async countWrongCode(tx: EntityManager, id: string): Promise<void> {
    await execute(tx, SQL.wrongCode, [id]);
  }

  /** Voids every token of a user (their address changed: each was bound to the old one). */
  async deleteAllOfUser(tx: EntityManager, userId: string): Promise<void> {
    await execute(tx, SQL.deleteAllOfUser, [userId]);
  }

  /** Maintenance: at most `limit` tokens used before `before`; returns how many were deleted. */
  pruneUsed(em: EntityManager, before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneUsedSql, [before, limit, before]);
  }

  /** Maintenance: at most `limit` tokens that expired before `before`. */
  pruneExpired(em: EntityManager, before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneExpiredSql, [before, limit, before]);
  }
}

function tokenOf(row: Row): StoredEmailToken {
  return {
    id: String(row.t_id),
    userId: String(row.t_user_id),
    purpose: String(row.t_purpose) as EmailTokenPurpose,
    sentTo: String(row.t_email),
    accountEmail: String(row.u_email),
    expiresAt: dateOf(row.t_expires_at),
    usedAt: row.t_used_at == null ? null : dateOf(row.t_used_at),
    codeHash: row.t_code_hash == null ? null : String(row.t_code_hash),
    codeKeyId: row.t_code_key_id == null ? null : String(row.t_code_key_id),
    codeAttempts: Number(row.t_code_attempts),
  };
}

import type { EntityManager } from "@mikro-orm/core";
import { batchDeleteSql, dateOf, execute, queryRows } from "../sql";
import type { Dialect } from "./session-store";

/**
 * Every SQL statement of the login throttle (`auth/login-throttle.ts`). An
 * email is named by its pseudonyms: one per accepted key of SECRET_KEYS, the
 * current key's first; counts cover them all, new places are written under
 * the first.
 *
 * Exactness: a place is granted inside a transaction that holds a lock on the
 * email, so two attempts for one email, on any connection or instance, never
 * both count the same free place. On PostgreSQL that lock is a transaction
 * advisory lock per pseudonym (taken in a fixed order, released at commit,
 * after the insert is visible); on SQLite every write transaction starts with
 * BEGIN IMMEDIATE and runs alone. The lock covers no row of any other table,
 * so it cannot join a cycle with the session and user locks.
 */

/** First key of PostgreSQL's two-int advisory locks for this store ("lthr"); the bigint form has its own key space. */
const ADVISORY_CLASS = 0x6c746872;

const SQL = {
  lock: "select pg_advisory_xact_lock(?, ?)",
  insert: "insert into login_attempts (email_key, ip, attempted_at) values (?, ?, ?) returning id",
  forgive: (keys: number) => `delete from login_attempts where email_key in (${marks(keys)}) and ip = ? and id <= ?`,
  release: "delete from login_attempts where id = ?",
  clear: (keys: number) => `delete from login_attempts where email_key in (${marks(keys)})`,
  // The n-th newest attempt since `since`: it exists exactly when there are at least n.
  nthNewestOfAddress: (keys: number) => `select attempted_at from login_attempts
    where email_key in (${marks(keys)}) and ip = ? and attempted_at > ? order by attempted_at desc limit 1 offset ?`,
  nthNewest: (keys: number) => `select attempted_at from login_attempts
    where email_key in (${marks(keys)}) and attempted_at > ? order by attempted_at desc limit 1 offset ?`,
} as const;

function marks(n: number): string {
  return Array.from({ length: n }, () => "?").join(", ");
}

export class LoginAttemptStore {
  // The same batched, index-driven delete as the other clean-ups (see `batchDeleteSql`).
  private readonly pruneSql: string;

  constructor(private readonly dialect: Dialect) {
    this.pruneSql = batchDeleteSql(dialect, "login_attempts", "id", "attempted_at", "<=");
  }

  /**
   * Inside a transaction: waits until no other transaction is granting places
   * for this email. Every pseudonym is locked, in one order, so instances
   * that share any key of SECRET_KEYS (during a key rotation) exclude each other.
   */
  async lockEmail(tx: EntityManager, emailKeys: readonly string[]): Promise<void> {
    if (this.dialect !== "postgres") return;
    const ids = [...new Set(emailKeys.map(lockIdOf))].sort((a, b) => a - b);
    for (const id of ids) await queryRows(tx, SQL.lock, [ADVISORY_CLASS, id]);
  }

  /**
   * The `n`-th newest attempt after `since` for the email, from `ip` only or
   * (null) from every address; null when there are fewer than `n`.
   */
  async nthNewest(
    em: EntityManager,
    emailKeys: readonly string[],
    ip: string | null,
    since: Date,
    n: number,
  ): Promise<Date | null> {
    const [row] =
      ip === null
        ? await queryRows(em, SQL.nthNewest(emailKeys.length), [...emailKeys, since, n - 1])
        : await queryRows(em, SQL.nthNewestOfAddress(emailKeys.length), [...emailKeys, ip, since, n - 1]);
    return row === undefined ? null : dateOf(row.attempted_at);
  }

  /** Takes a place; returns its id, which orders it after every place granted before for the email. */
  async insert(tx: EntityManager, emailKey: string, ip: string, now: Date): Promise<string> {
    const [row] = await queryRows(tx, SQL.insert, [emailKey, ip, now]);
    if (row === undefined) throw new Error("insert into login_attempts returned no id");
    return String(row.id);
  }

  /** Deletes the places `ip` took for the email up to and including `id`; returns how many. */
  /** Every place taken for the email, from every address. */
  clear(em: EntityManager, emailKeys: readonly string[]): Promise<number> {
    return execute(em, SQL.clear(emailKeys.length), [...emailKeys]);
  }

  forgive(em: EntityManager, emailKeys: readonly string[], ip: string, id: string): Promise<number> {
    return execute(em, SQL.forgive(emailKeys.length), [...emailKeys, ip, id]);
  }

  /** Deletes one place. */
  async release(em: EntityManager, id: string): Promise<void> {
    await execute(em, SQL.release, [id]);
  }

  /** Deletes at most `limit` attempts made at or before `before`, oldest first; returns how many. */
  pruneBatch(em: EntityManager, before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneSql, [before, limit, before]);
  }
}

/** A pseudonym's lock id: its first 4 bytes as a signed 32-bit integer (a collision only serialises two emails). */
function lockIdOf(emailKey: string): number {
  return Buffer.from(emailKey, "base64url").readInt32BE(0);
}

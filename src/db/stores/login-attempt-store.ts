import type { EntityManager } from "@mikro-orm/core";
import { batchDeleteSql, dateOf, execute, queryRows } from "../sql";
import type { Dialect } from "./session-store";

/** How many attempts of an email a new place must not exceed: from its address, and from all addresses. */
export interface PlaceLimits {
  ofAddress: number;
  ofEmail: number;
}

/**
 * Every SQL statement of the login throttle (`auth/login-throttle.ts`). An
 * email is named by its pseudonyms: one per accepted key of SECRET_KEYS, the
 * current key's first; counts cover them all, new places are written under
 * the first.
 *
 * Exactness: a place is granted by one statement that counts and inserts
 * (`grant`), and two attempts for one email, on any connection or instance,
 * never both count the same free place. On SQLite that statement holds the
 * database's only write lock from its start (a write statement takes it before
 * it reads), so it needs no transaction around it. On PostgreSQL it runs in a
 * transaction after a transaction advisory lock per pseudonym (taken in a
 * fixed order, released at commit, after the insert is visible): under READ
 * COMMITTED two statements could otherwise both count the same snapshot. The
 * lock covers no row of any other table, so it cannot join a cycle with the
 * session and user locks.
 */

/** First key of PostgreSQL's two-int advisory locks for this store ("lthr"); the bigint form has its own key space. */
const ADVISORY_CLASS = 0x6c746872;

const SQL = {
  lock: "select pg_advisory_xact_lock(?, ?)",
  // Inserts the place only while fewer than n attempts from the address, and fewer than m in all, are in the window.
  // PostgreSQL types the selected parameters as text unless told (the insert's column types do not reach a subquery).
  grant: (keys: number, dialect: Dialect) => `insert into login_attempts (email_key, ip, attempted_at)
    select ${dialect === "postgres" ? "?::text, ?::text, ?::timestamptz" : "?, ?, ?"}
    where not exists (${nthNewestOfAddress(keys)}) and not exists (${nthNewest(keys)})
    returning id`,
  forgive: (keys: number) => `delete from login_attempts where email_key in (${marks(keys)}) and ip = ? and id <= ?`,
  release: "delete from login_attempts where id = ?",
  clear: (keys: number) => `delete from login_attempts where email_key in (${marks(keys)})`,
  nthNewestOfAddress,
  nthNewest,
} as const;

// The n-th newest attempt since `since`: it exists exactly when there are at least n.
function nthNewestOfAddress(keys: number): string {
  return `select attempted_at from login_attempts
    where email_key in (${marks(keys)}) and ip = ? and attempted_at > ? order by attempted_at desc limit 1 offset ?`;
}

function nthNewest(keys: number): string {
  return `select attempted_at from login_attempts
    where email_key in (${marks(keys)}) and attempted_at > ? order by attempted_at desc limit 1 offset ?`;
}

function marks(n: number): string {
  return Array.from({ length: n }, () => "?").join(", ");
}

export class LoginAttemptStore {
  // The same batched, index-driven delete as the other clean-ups (see `batchDeleteSql`).
  private readonly pruneSql: string;
  /** PostgreSQL: `grant` must run in a transaction after `lockEmail`. SQLite: alone, one statement. */
  readonly grantNeedsLock: boolean;

  constructor(private readonly dialect: Dialect) {
    this.pruneSql = batchDeleteSql(dialect, "login_attempts", "id", "attempted_at", "<=");
    this.grantNeedsLock = dialect === "postgres";
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
   * Takes a place for the email from `ip` at `now` when the attempts after
   * `since` leave one free under `limits`; returns its id, which orders it
   * after every place granted before for the email, or null when full.
   */
  async grant(
    em: EntityManager,
    emailKeys: readonly string[],
    ip: string,
    now: Date,
    since: Date,
    limits: PlaceLimits,
  ): Promise<string | null> {
    const [row] = await queryRows(em, SQL.grant(emailKeys.length, this.dialect), [
      emailKeys[0],
      ip,
      now,
      ...emailKeys,
      ip,
      since,
      limits.ofAddress - 1,
      ...emailKeys,
      since,
      limits.ofEmail - 1,
    ]);
    return row === undefined ? null : String(row.id);
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

  /** Every place taken for the email, from every address. */
  clear(em: EntityManager, emailKeys: readonly string[]): Promise<number> {
    return execute(em, SQL.clear(emailKeys.length), [...emailKeys]);
  }

  /** Deletes the places `ip` took for the email up to and including `id`; returns how many. */
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

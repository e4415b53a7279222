import type { EntityManager } from "@mikro-orm/core";
import type { AbstractSqlConnection } from "@mikro-orm/knex";

export type Row = Record<string, unknown>;

/**
 * A transaction run on the driver's connection itself (SQLite's grouped
 * rotations, `sqlite-write-groups.ts`): each statement answers at once.
 */
export interface DirectTransaction {
  readonly direct: true;
  rows(sql: string, params: readonly unknown[]): Row[];
  run(sql: string, params: readonly unknown[]): number;
}

/** Where a statement runs: an EntityManager (its transaction, if any) or a direct transaction. */
export type Executor = EntityManager | DirectTransaction;

function isDirect(executor: Executor): executor is DirectTransaction {
  return (executor as Partial<DirectTransaction>).direct === true;
}

/**
 * Runs one hand-written statement with `?` placeholders in `em`'s transaction,
 * if it has one, and returns its rows.
 *
 * For the few statements on every request (session check, refresh rotation,
 * rate limit). MikroORM's own `execute` writes the parameters into the SQL
 * text, so each call is a new statement to compile; passed as bindings, the
 * text repeats and SQLite reuses the compiled statement (see
 * `mikro-orm.config.ts`), and PostgreSQL gets a parameterised query.
 */
export async function queryRows(em: Executor, sql: string, params: unknown[]): Promise<Row[]> {
  if (isDirect(em)) return em.rows(sql, params);
  const result = await raw(em, sql, params);
  // better-sqlite3 answers an array of rows, pg a result object holding them.
  return Array.isArray(result) ? result : ((result as { rows?: Row[] }).rows ?? []);
}

/** Runs one hand-written write (see `queryRows`) and returns how many rows it changed. */
export async function execute(em: Executor, sql: string, params: unknown[]): Promise<number> {
  if (isDirect(em)) return em.run(sql, params);
  const result = (await raw(em, sql, params)) as { changes?: number; rowCount?: number | null };
  return Number(result.changes ?? result.rowCount ?? 0);
}

/**
 * SQLite only: runs `sql` with the driver's `exec`, which steps it to
 * completion, on the pool's connection (waiting for it like any query).
 * `PRAGMA incremental_vacuum(N)` frees one page per step, so run as a
 * prepared statement (one step) it would free a single page.
 */
export async function execToCompletion(em: EntityManager, sql: string): Promise<void> {
  const client = (em.getConnection() as AbstractSqlConnection).getKnex().client as {
    acquireConnection(): Promise<{ exec(sql: string): void }>;
    releaseConnection(connection: unknown): Promise<void>;
  };
  const connection = await client.acquireConnection();
  try {
    connection.exec(sql);
  } catch (error) {
    throw em.getDriver().convertException(error as Error);
  } finally {
    await client.releaseConnection(connection);
  }
}

async function raw(em: EntityManager, sql: string, params: unknown[]): Promise<unknown> {
  const knex = (em.getConnection() as AbstractSqlConnection).getKnex();
  const query = knex.raw(sql, params as never[]);
  const transaction = em.getTransactionContext();
  try {
    return await (transaction ? query.transacting(transaction) : query);
  } catch (error) {
    // The same typed exceptions as the ORM's own queries raise (unique
    // violation, deadlock, connection lost, lock wait timeout…), so callers
    // and the error formatter branch on classes, not driver messages.
    throw em.getDriver().convertException(error as Error);
  }
}

/**
 * One batch of a clean-up: deletes at most `limit` rows of `table` whose
 * `column` is below a bound, oldest first, through `column`'s index. Binds
 * (bound, limit, bound).
 *
 * The bound is checked again outside the subquery, so on PostgreSQL a row
 * that changed after the subquery read it is judged on its new values. There
 * the subquery becomes an array, computed once, and the delete looks its rows
 * up by key: as `in (subquery)` a stale row estimate (a backlog inserted
 * since the last ANALYZE) can make it a nested loop over the whole table, and
 * one batch took 13 s in a test instead of a few ms.
 */
export function batchDeleteSql(
  dialect: "sqlite" | "postgres",
  table: string,
  key: string,
  column: string,
  below: "<" | "<=",
): string {
  const oldest = `select ${key} from ${table} where ${column} ${below} ? order by ${column} limit ?`;
  const rows = dialect === "postgres" ? `${key} = any(array(${oldest}))` : `${key} in (${oldest})`;
  return `delete from ${table} where ${rows} and ${column} ${below} ?`;
}

/**
 * A date column as read: SQLite holds epoch milliseconds; MikroORM has pg
 * answer timestamptz as text (`2026-11-25 12:34:56.789+00`).
 */
export function dateOf(value: unknown): Date {
  if (value instanceof Date) return value;
  return new Date(typeof value === "string" && !/^\d+$/.test(value) ? value : Number(value));
}

/** A value as SQLite gets it from knex: dates as epoch milliseconds, booleans as 0/1. */
export function sqliteBindable(value: unknown): unknown {
  if (value instanceof Date) return value.getTime();
  if (typeof value === "boolean") return value ? 1 : 0;
  return value;
}

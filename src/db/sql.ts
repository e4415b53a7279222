import type { EntityManager } from "@mikro-orm/core";
import type { AbstractSqlConnection } from "@mikro-orm/knex";

export type Row = Record<string, unknown>;

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
export async function queryRows(em: EntityManager, sql: string, params: unknown[]): Promise<Row[]> {
  const result = await raw(em, sql, params);
  // better-sqlite3 answers an array of rows, pg a result object holding them.
  return Array.isArray(result) ? result : ((result as { rows?: Row[] }).rows ?? []);
}

/** Runs one hand-written write (see `queryRows`) and returns how many rows it changed. */
export async function execute(em: EntityManager, sql: string, params: unknown[]): Promise<number> {
  const result = (await raw(em, sql, params)) as { changes?: number; rowCount?: number | null };
  return Number(result.changes ?? result.rowCount ?? 0);
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
 * A date column as read: SQLite holds epoch milliseconds; MikroORM has pg
 * answer timestamptz as text (`2026-11-25 12:34:56.789+00`).
 */
export function dateOf(value: unknown): Date {
  if (value instanceof Date) return value;
  return new Date(typeof value === "string" && !/^\d+$/.test(value) ? value : Number(value));
}

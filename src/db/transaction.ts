import { ConnectionException, type EntityManager } from "@mikro-orm/core";
import type { Knex } from "@mikro-orm/knex";

/**
 * Runs `body` in one database transaction and commits, or rolls back on a
 * throw. On SQLite every transaction starts with BEGIN IMMEDIATE
 * (`mikro-orm.config.ts`): it takes the write lock up front, so a busy
 * database (the operator CLI, maintenance) makes it wait `busy_timeout`
 * instead of failing with "database is locked" when a read would upgrade to
 * a write. On PostgreSQL the statements inside take row locks in the lock
 * order of `stores/session-store.ts`.
 */
export function transaction<T>(em: EntityManager, body: (tx: EntityManager) => Promise<T>): Promise<T> {
  return em.transactional(async (tx) => {
    // knex swallows the error of a BEGIN that failed (the connection died as the
    // transaction started), marks the transaction completed and runs the body
    // anyway, whose first statement then fails with "Transaction query already
    // complete". Said here as what it is, so the client gets SERVICE_UNAVAILABLE.
    if ((tx.getTransactionContext() as Knex.Transaction | undefined)?.isCompleted()) {
      throw new ConnectionException(new Error("The database connection was lost as the transaction began"));
    }
    return body(tx);
  });
}

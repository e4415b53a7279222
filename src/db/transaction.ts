import { ConnectionException, type EntityManager } from "@mikro-orm/core";
import type { AbstractSqlConnection, Knex } from "@mikro-orm/knex";

/**
 * Runs `body` in one database transaction and commits, or rolls back on a
 * throw. On SQLite every transaction starts with BEGIN IMMEDIATE
 * (`mikro-orm.config.ts`): it takes the write lock up front, so a busy
 * database (the operator CLI, maintenance) makes it wait `busy_timeout`
 * instead of failing with "database is locked" when a read would upgrade to
 * a write. On PostgreSQL the statements inside take row locks in the lock
 * order of `stores/session-store.ts`. Called inside a transaction, it runs in
 * a savepoint of it.
 *
 * `body` gets a fork of `em` bound to the transaction, and writes through it
 * directly: SQL (`sql.ts`), `tx.insert`, `tx.nativeUpdate`, `tx.nativeDelete`.
 * Nothing is flushed. This is `em.transactional()` without its two
 * AsyncLocalStorages (the transaction context, and the unit of work's flush):
 * on Node 20 and 22 the first `run` of any AsyncLocalStorage turns on promise
 * hooks for the whole process, for good, and every promise of every request
 * then pays for them (`me` served 9 % more without, bench/RESULTS.md). Every
 * store is handed its `tx`, so nothing needs an ambient transaction.
 * `tests/async-hooks.test.ts` holds the whole server to it.
 */
export async function transaction<T>(em: EntityManager, body: (tx: EntityManager) => Promise<T>): Promise<T> {
  // Empty: what the caller loaded is read afresh, and only what the body did is checked below.
  const fork = em.fork({ clear: true });
  const parent = em.getTransactionContext<Knex.Transaction>();
  return (fork.getConnection("write") as AbstractSqlConnection).transactional(
    async (trx) => {
      // knex swallows the error of a BEGIN that failed (the connection died as the
      // transaction started), marks the transaction completed and runs the body
      // anyway, whose first statement then fails with "Transaction query already
      // complete". Said here as what it is, so the client gets SERVICE_UNAVAILABLE.
      if (trx.isCompleted()) {
        throw new ConnectionException(new Error("The database connection was lost as the transaction began"));
      }
      fork.setTransactionContext(trx);
      const result = await body(fork);
      // An entity created or changed through the unit of work would be lost without a flush: refuse, loudly.
      const unitOfWork = fork.getUnitOfWork();
      unitOfWork.computeChangeSets();
      if (unitOfWork.getChangeSets().length > 0) {
        throw new Error("transaction(): write with SQL or tx.insert/nativeUpdate/nativeDelete, not the unit of work");
      }
      return result;
    },
    parent ? { ctx: parent } : {},
  );
}

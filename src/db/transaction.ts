import type { EntityManager } from "@mikro-orm/core";

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
  return em.transactional(body);
}

import { ConnectionException } from "@mikro-orm/core";
import { PerTurnBatch } from "./per-turn-batch";
import { type DirectTransaction, type Row, sqliteBindable } from "./sql";

// better-sqlite3, as knex's pool hands it out (with `mikro-orm.config.ts`'s statement cache).
interface Statement {
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number };
}
interface Connection {
  prepare(sql: string): Statement;
  readonly inTransaction: boolean;
}
/** knex's client: the pool of one SQLite connection every other statement of the server goes through. */
export interface ConnectionPool {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<unknown>;
}

type Body<T> = (tx: DirectTransaction) => Promise<T>;
interface Pending {
  body: Body<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit for SQLite: the transactions asked for during one turn of the
 * event loop run in one database transaction, each in a savepoint of its own,
 * and are committed together; each caller hears of its own once that commit
 * is done.
 *
 * SQLite runs one writer at a time, and what a write transaction costs is
 * mostly its commit (COMMIT ~100 us against 10-25 us per statement, timed
 * in the server, bench/RESULTS.md), so N rotations cost one commit instead of
 * N. The statements run on the pool's connection itself (taken from knex's
 * pool like any query, so never beside a knex transaction), each answering at
 * once: no query builder, no promise per statement.
 *
 * A body sees only its own transaction. One that throws is rolled back to its
 * savepoint, alone; the others still commit. If the transaction itself fails
 * (BEGIN, a savepoint, COMMIT: a locked or broken file), nothing of the group
 * is committed and every caller gets that error. Bodies must do nothing but
 * statements on `tx` and computation: they run one after another while the
 * connection is held.
 */
export class SqliteWriteGroups {
  private readonly pending = new PerTurnBatch<Pending>((group) => void this.runGroup(group));

  constructor(
    private readonly pool: ConnectionPool,
    private readonly hooks: {
      /** Whether the ORM's database is open: a closed one refuses the group (SERVICE_UNAVAILABLE). */
      isOpen: () => boolean;
      /** The driver's error as the ORM would raise it (typed exceptions: locked, closed…). */
      convert: (error: Error) => Error;
      /** Sees each statement's text, like the ORM's hook (tests count queries with it). */
      onQuery?: (sql: string) => void;
    },
  ) {}

  /** Runs `body` in the next group's transaction; resolves to what it returned once the group committed. */
  run<T>(body: Body<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.pending.add({ body, resolve: resolve as (value: unknown) => void, reject }),
    );
  }

  private async runGroup(group: Pending[]): Promise<void> {
    let connection: Connection;
    try {
      if (!this.hooks.isOpen()) throw new ConnectionException(new Error("the database is closed"));
      connection = (await this.pool.acquireConnection()) as Connection;
    } catch (error) {
      for (const { reject } of group) reject(this.hooks.convert(error as Error));
      return;
    }
    let outcomes: Outcome[];
    try {
      outcomes = await this.runInTransaction(connection, group);
    } catch (error) {
      outcomes = group.map(() => ({ ok: false, error: this.hooks.convert(error as Error) }));
    } finally {
      await this.pool.releaseConnection(connection);
    }
    group.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i] as Outcome;
      if (outcome.ok) resolve(outcome.value);
      else reject(outcome.error);
    });
  }

  private async runInTransaction(connection: Connection, group: Pending[]): Promise<Outcome[]> {
    const exec = (sql: string) => {
      this.hooks.onQuery?.(sql);
      connection.prepare(sql).run();
    };
    const tx: DirectTransaction = {
      direct: true,
      rows: (sql, params) =>
        this.guarded(sql, () => connection.prepare(sql).all(...params.map(sqliteBindable)) as Row[]),
      run: (sql, params) => this.guarded(sql, () => connection.prepare(sql).run(...params.map(sqliteBindable)).changes),
    };
    // Alone, a body needs no savepoint: its failure rolls the transaction back.
    const savepoints = group.length > 1;
    const outcomes: Outcome[] = [];
    exec("BEGIN IMMEDIATE;");
    try {
      for (const { body } of group) {
        if (savepoints) exec("SAVEPOINT grouped;");
        let outcome: Outcome;
        try {
          outcome = { ok: true, value: await body(tx) };
        } catch (error) {
          outcome = { ok: false, error };
        }
        // A savepoint that cannot be released or rolled back fails the whole group (below).
        if (savepoints) {
          if (!outcome.ok) exec("ROLLBACK TO grouped;");
          exec("RELEASE grouped;");
        }
        outcomes.push(outcome);
      }
      if (!savepoints && !(outcomes[0] as Outcome).ok) exec("ROLLBACK;");
      else exec("COMMIT;");
    } catch (error) {
      // SQLite may have rolled back already (an I/O error, a full disk): then there is nothing to undo.
      try {
        if (connection.inTransaction) exec("ROLLBACK;");
      } catch {
        // The error that matters is the first one.
      }
      throw error;
    }
    return outcomes;
  }

  /** One statement, seen by `onQuery`; its failure as the ORM would raise it. */
  private guarded<T>(sql: string, run: () => T): T {
    this.hooks.onQuery?.(sql);
    try {
      return run();
    } catch (error) {
      throw this.hooks.convert(error as Error);
    }
  }
}

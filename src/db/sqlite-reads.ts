import { ConnectionException } from "@mikro-orm/core";
import { PerTurnBatch } from "./per-turn-batch";
import { type Row, sqliteBindable } from "./sql";

// better-sqlite3 ships no types (it comes with MikroORM's driver): the little used here, typed here.
interface Statement {
  get(...params: unknown[]): unknown;
}
interface Connection {
  prepare(sql: string): Statement;
  pragma(text: string): unknown;
  close(): void;
}
interface PendingRead {
  sql: string;
  params: readonly unknown[];
  resolve: (row: Row | undefined) => void;
  reject: (error: unknown) => void;
}
type ConnectionClass = new (path: string, options: { fileMustExist: boolean }) => Connection;

/**
 * A second, read-only connection to the SQLite file, for the statement every
 * authenticated request runs (the session check, `stores/session-store.ts`).
 *
 * Through knex, that one indexed join cost about a third of `me` (bench/RESULTS.md):
 * knex builds a runner, takes the pool's only connection, and waits behind any
 * transaction holding it. Here it is one prepared statement, compiled once, on
 * a connection of its own. In WAL mode a reader sees the last committed state
 * and is never blocked by the writer, so the check is exactly as fresh as
 * before (a session ended by a committed logout is refused by the next
 * request) and never sees another request's uncommitted writes, which reusing
 * the pool's connection mid-transaction would.
 *
 * Requests ask with `getSoon`, and the reads asked for during one turn of the
 * event loop run together at its end (`setImmediate`), one after the other.
 * Under load a turn takes in several requests; each stops at its check, the
 * checks run back to back with SQLite's pages and code still in the CPU's
 * caches (7.7 us each instead of 15.5), and the requests then finish
 * together. Each read still runs after its request arrived, against what is
 * committed then: batching makes no check older.
 */
export class SqliteReads {
  private connection: Connection | null = null;
  private readonly statements = new Map<string, Statement>();
  // One read's failure is its own: the others still run and answer.
  private readonly pending = new PerTurnBatch<PendingRead>((batch) => {
    for (const read of batch) {
      try {
        read.resolve(this.get(read.sql, read.params));
      } catch (error) {
        read.reject(error);
      }
    }
  });

  constructor(
    private readonly path: string,
    private readonly hooks: {
      /**
       * Whether the ORM's database is open: this connection serves only while it is,
       * so a closed database is closed for every request (SERVICE_UNAVAILABLE), not half.
       */
      isOpen: () => boolean;
      /** Sees each statement's text, like the ORM's hook (tests count queries with it). */
      onQuery?: (sql: string) => void;
    },
  ) {}

  /** The first row of `sql`, or undefined. Values bind as knex binds them (`sqliteBindable`). */
  get(sql: string, params: readonly unknown[]): Row | undefined {
    if (!this.hooks.isOpen()) {
      this.close();
      throw new ConnectionException(new Error("the database is closed"));
    }
    this.hooks.onQuery?.(sql);
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.open().prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement.get(...params.map(sqliteBindable)) as Row | undefined;
  }

  /** `get`, run at the end of this turn of the event loop together with the other reads asked for in it. */
  getSoon(sql: string, params: readonly unknown[]): Promise<Row | undefined> {
    return new Promise((resolve, reject) => this.pending.add({ sql, params, resolve, reject }));
  }

  close(): void {
    this.connection?.close();
    this.connection = null;
    this.statements.clear();
  }

  /** Opened at the first read, after the migrations made the file and its tables. */
  private open(): Connection {
    if (this.connection === null) {
      const Database = require("better-sqlite3") as ConnectionClass;
      const connection = new Database(this.path, { fileMustExist: true });
      // Reads only; waits for a checkpoint's short lock rather than failing, as the main connection does.
      connection.pragma("query_only = ON");
      connection.pragma("busy_timeout = 5000");
      this.connection = connection;
    }
    return this.connection;
  }
}

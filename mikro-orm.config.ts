import { defineConfig as defineSqliteConfig, type Options } from "@mikro-orm/better-sqlite";
import { Migrator } from "@mikro-orm/migrations";
import { defineConfig as definePostgresConfig } from "@mikro-orm/postgresql";
import type { DatabaseConfig } from "./src/config";
import { entities } from "./src/db/entities";
import { migrationsList as postgresMigrations } from "./src/db/migrations/postgresql";
import { migrationsList as sqliteMigrations } from "./src/db/migrations/sqlite";

export interface OrmHooks {
  /** Receives MikroORM's own messages (migrations). */
  log?: (message: string) => void;
  /** Receives each SQL statement run (its text, without values); for instrumentation and tests. */
  onQuery?: (sql: string) => void;
}

interface SqliteConnection {
  exec(sql: string): void;
  prepare(sql: string): unknown;
}

/**
 * How long a query may wait for a PostgreSQL connection: for a free one from
 * the pool, or for a new one to be established. Past it the operation fails
 * with SERVICE_UNAVAILABLE (BEHAVIOUR.md §11) instead of piling requests up
 * behind a database that does not answer. Queries hold a connection for
 * milliseconds (hashing runs outside transactions), so under normal load a
 * connection is free long before this.
 */
const POSTGRES_CONNECT_TIMEOUT_MS = 2_000;

/** Distinct SQL texts kept compiled per connection; the app issues a few dozen shapes. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * knex opens every transaction with a deferred `BEGIN;`. A deferred
 * transaction that reads and then writes must upgrade its lock, and if another
 * connection (the operator CLI, another process) wrote in between, SQLite
 * fails it at once with SQLITE_BUSY ("database is locked"), busy_timeout or
 * not. Taking the write lock at BEGIN makes it wait for the other writer
 * instead. Every transaction of this app writes, so all begin IMMEDIATE.
 */
const BEGIN_IMMEDIATE = "BEGIN IMMEDIATE;";

/**
 * knex compiles every statement afresh (better-sqlite3's `prepare`), about 6 %
 * of a refresh's CPU time (bench/RESULTS.md). A compiled statement can be
 * run again with new bindings, and SQLite recompiles it by itself after a
 * schema change, so each connection keeps the most recent ones by SQL text.
 */
function cacheStatements(conn: SqliteConnection): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new Map<string, unknown>();
  conn.prepare = (text: string) => {
    const sql = text === "BEGIN;" ? BEGIN_IMMEDIATE : text;
    let statement = cache.get(sql);
    if (statement === undefined) {
      statement = prepare(sql);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    } else cache.delete(sql);
    cache.set(sql, statement);
    return statement;
  };
}

/**
 * MikroORM options for a database of the app config. Each dialect has its own
 * migrations (the SQL differs), listed explicitly rather than globbed from
 * disk so the compiled server and the tests run exactly the same ones.
 */
export function createOrmConfig(database: DatabaseConfig, hooks: OrmHooks = {}): Options {
  const { log } = hooks;
  const common = {
    entities,
    extensions: [Migrator],
    // MikroORM's own messages (the migrator's) go to the app's JSON log, uncoloured.
    colors: false,
    // SQL is never logged (literals hold user data); it can only be observed through onQuery (src/db/orm.ts).
    logger: (message: string) => log?.(message),
    // Per-request forks only: a shared identity map across requests would leak state.
    allowGlobalContext: false,
    // knex reports dropped connections (a database restart) itself; into the JSON log, not bare console lines.
    driverOptions: { log: { warn: log, error: log, deprecate: log, debug: () => {} } },
  };
  const migrations = (dialect: "sqlite" | "postgresql", migrationsList: typeof sqliteMigrations) => ({
    migrationsList,
    path: `src/db/migrations/${dialect}`,
    pathTs: `src/db/migrations/${dialect}`,
    emit: "ts" as const,
    snapshot: false,
    transactional: true,
    allOrNothing: true,
  });

  if (database.kind === "postgres") {
    return definePostgresConfig({
      ...common,
      clientUrl: database.url,
      migrations: migrations("postgresql", postgresMigrations),
      pool: { min: 0, max: 10, acquireTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS },
      driverOptions: {
        ...common.driverOptions,
        // pg's own default is to wait for the TCP and startup handshake forever.
        connection: { connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS },
      },
    }) as Options;
  }
  return defineSqliteConfig({
    ...common,
    dbName: database.path,
    migrations: migrations("sqlite", sqliteMigrations),
    pool: {
      // On every connection: FK enforcement; WAL and a busy timeout so the operator
      // CLI can write while the server runs. In WAL mode synchronous=NORMAL cannot
      // corrupt the file; it syncs at checkpoints instead of at every commit, so
      // an OS crash or power loss (not a process crash) may undo the last commits.
      // auto_vacuum first: it takes effect only on a file that has no table yet
      // (an older file is converted at start, src/maintenance/schedule.ts), and
      // lets maintenance give deleted rows' pages back (incremental_vacuum).
      afterCreate: (conn: SqliteConnection, done: (error: Error | null, conn: SqliteConnection) => void) => {
        try {
          conn.exec(
            "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
          );
          cacheStatements(conn);
          done(null, conn);
        } catch (error) {
          done(error as Error, conn);
        }
      },
    },
  });
}

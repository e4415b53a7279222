import { Migrator } from "@mikro-orm/migrations";
import { defineConfig, type Options } from "@mikro-orm/sqlite";
import type { DatabaseConfig } from "./src/config";
import { entities } from "./src/db/entities";
import { migrationsList } from "./src/db/migrations";

export interface OrmHooks {
  /** Receives MikroORM's own messages (migrations). */
  log?: (message: string) => void;
  /** Receives each SQL statement run; for instrumentation and tests. */
  onQuery?: (sql: string) => void;
}

interface SqliteConnection {
  exec(sql: string, callback: (error: Error | null) => void): void;
}

/**
 * MikroORM options for a database of the app config. Migrations are listed
 * explicitly (not globbed from disk) so the compiled server and the tests
 * run exactly the same ones.
 */
export function createOrmConfig(database: DatabaseConfig, hooks: OrmHooks = {}): Options {
  const { log, onQuery } = hooks;
  return defineConfig({
    dbName: database.path,
    // MikroORM's own messages (the migrator's) go to the app's JSON log, uncoloured.
    colors: false,
    // SQL is never logged (literals hold user data); it can only be observed through onQuery.
    ...(onQuery ? { debug: ["query" as const] } : {}),
    logger: (message: string) => (message.startsWith("[query]") ? onQuery?.(message) : log?.(message)),
    entities,
    extensions: [Migrator],
    migrations: {
      migrationsList,
      path: "src/db/migrations",
      pathTs: "src/db/migrations",
      emit: "ts",
      snapshot: false,
      transactional: true,
      allOrNothing: true,
    },
    // Per-request forks only: a shared identity map across requests would leak state.
    allowGlobalContext: false,
    pool: {
      // On every connection: FK enforcement; WAL and a busy timeout so the operator
      // CLI can write while the server runs.
      afterCreate: (conn: SqliteConnection, done: (error: Error | null, conn: SqliteConnection) => void) => {
        conn.exec("PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;", (error) =>
          done(error, conn),
        );
      },
    },
  });
}

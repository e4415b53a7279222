import type { FastifyInstance } from "fastify";
import { type BuildOptions, buildApp } from "../../src/app";
import { type Config, loadConfig } from "../../src/config";
import { TestClock } from "./clock";
import { freshDatabaseUrl } from "./database";

/** K of the security checklist: the HS256 key of the test environment, for forging tokens. */
export const TEST_JWT_SECRET = "test-only-hs256-key-0123456789abcdefghijklmnop";
/** SECRET_KEYS of the test environment (hex, 32 bytes). */
export const TEST_SECRET_KEY = "7e57".repeat(16);

/**
 * Cheap argon2 so a suite of hundreds of hashes stays fast (production refuses
 * these), and abuse limits out of the way: every test client is 127.0.0.1.
 * The abuse tests set small limits explicitly.
 */
export const TEST_ENV: Record<string, string> = {
  JWT_SECRET: TEST_JWT_SECRET,
  SECRET_KEYS: TEST_SECRET_KEY,
  ARGON2_MEMORY_KIB: "1024",
  ARGON2_TIME_COST: "1",
  LOG_LEVEL: "info",
  AUTH_RATE_LIMIT_PER_MINUTE: "100000",
  LOGIN_MAX_FAILURES: "1000",
  // Off unless a test turns it on (BuildOptions.maintenanceIntervalMs): it would delete rows tests look at.
  MAINTENANCE_INTERVAL: "0",
  // No mail unless a test asks for it (`mailEnv(sink)` in helpers/smtp-sink.ts); then the worker looks often.
  MAIL_TRANSPORT: "none",
  MAIL_POLL_INTERVAL: "0.05",
};

export interface TestServer {
  url: string;
  app: FastifyInstance;
  config: Config;
  /** DATABASE_URL of this server: give it to another server or the CLI to share the database. */
  databaseUrl: string;
  /** Every JSON log line the server wrote. */
  logs: string[];
  /** Every SQL statement the server ran. */
  queries: string[];
  /** The server's clock: `clock.advance(seconds)` instead of sleeping. */
  clock: TestClock;
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * The real server (same buildApp as `npm start`) on 127.0.0.1 and an ephemeral
 * port, on a new database (SQLite, or PostgreSQL with TEST_DATABASE=postgres)
 * unless `databaseUrl` names an existing one. `build` passes what only tests
 * change (shorter HTTP timeouts).
 */
export async function startServer(
  env: Record<string, string> = {},
  databaseUrl?: string,
  clock = new TestClock(),
  build: Pick<BuildOptions, "httpTimeouts" | "maintenanceIntervalMs"> = {},
): Promise<TestServer> {
  const url = databaseUrl ?? (await freshDatabaseUrl());
  const { config } = loadConfig({ ...TEST_ENV, DATABASE_URL: url, ...env });
  const logs: string[] = [];
  const queries: string[] = [];
  const app = await buildApp(config, {
    logStream: { write: (line) => void logs.push(line) },
    onQuery: (sql) => void queries.push(sql),
    clock,
    ...build,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return {
    url: `http://127.0.0.1:${address.port}`,
    app,
    config,
    databaseUrl: url,
    logs,
    queries,
    clock,
    sql: (query, params = []) => app.orm.em.getConnection().execute(query, params),
    close: () => app.close(),
  };
}

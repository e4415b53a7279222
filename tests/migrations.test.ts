import { Client } from "pg";
import { describe, expect, it } from "vitest";
import { migrationsList } from "../src/db/migrations/postgresql";
import { freshDatabaseUrl, TEST_DATABASE } from "./helpers/database";
import { me, register } from "./helpers/graphql";
import { type ServerProcess, spawnServer, tempDir } from "./helpers/process";
import { TEST_ENV } from "./helpers/server";

const INSTANCES = 5;
const ROUNDS = 3;

async function appliedMigrations(databaseUrl: string): Promise<string[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>("select name from mikro_orm_migrations order by id");
    return rows.map((row) => row.name);
  } finally {
    await client.end();
  }
}

// BEHAVIOUR.md §1: migrations run under a database lock. Several instances on one
// database need a database server: PostgreSQL (SQLite is one process per file).
describe.skipIf(TEST_DATABASE !== "postgres")("instances started together on one fresh PostgreSQL database", () => {
  it(`migrate it exactly once and all start (${INSTANCES} at once, ${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const DATABASE_URL = await freshDatabaseUrl();
      const env = { ...TEST_ENV, DATABASE_URL };
      const started = await Promise.allSettled(Array.from({ length: INSTANCES }, () => spawnServer(tempDir(), env)));
      const running = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
      try {
        const failures = started.flatMap((s) => (s.status === "rejected" ? [String(s.reason).slice(0, 2000)] : []));
        expect(failures, `round ${round}`).toEqual([]);
        for (const instance of running) expect((await fetch(`${instance.url}/readyz`)).status).toBe(200);
        expect(await appliedMigrations(DATABASE_URL)).toEqual(migrationsList.map((m) => m.name));
        // One schema for all: an account made through one instance works through every other.
        const user = await register(running[0]!.url);
        for (const instance of running) {
          expect((await me(instance.url, user.accessToken)).body.data?.me.id).toBe(user.user.id);
        }
      } finally {
        await Promise.all(running.map((instance: ServerProcess) => instance.stop()));
      }
    }
  }, 120_000);
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_DATABASE } from "./helpers/database";
import { errorCode, gql, LOGIN, ME, REFRESH, register, type Tokens } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";

/**
 * What the hot operations ask of the database, statement by statement, as the
 * capacity model in bench/RESULTS.md counts them: a change that adds a
 * statement or a write to `me`, `refreshToken` or `login` fails here first.
 */
let server: TestServer;
let user: Tokens & { email: string; password: string };
beforeAll(async () => {
  server = await startServer();
  user = await register(server.url);
});
afterAll(() => server.close());

async function statementsOf(run: () => Promise<unknown>) {
  // Each of these operations does all its database work before it answers (nothing deferred).
  const before = server.queries.length;
  await run();
  const sql = server.queries.slice(before).map((q) => q.trim().toLowerCase());
  return {
    all: sql.length,
    writes: sql.filter((q) => /^(insert|update|delete)\b/.test(q)).length,
    transactions: sql.filter((q) => /^(begin|start transaction|savepoint)\b/.test(q)).length,
    sql,
  };
}

const sqlite = TEST_DATABASE === "sqlite";

describe("statements per hot operation", () => {
  it("me: one read, no write, no transaction", async () => {
    const counts = await statementsOf(async () => {
      expect((await gql(server.url, ME, {}, { token: user.accessToken })).body.data?.me.id).toBe(user.user.id);
    });
    expect(counts).toMatchObject({ all: 1, writes: 0, transactions: 0 });
    expect(counts.sql[0]).toMatch(/^select\b/);
  });

  it(`refreshToken: ${sqlite ? "the rate-limit count inside the rotation's one transaction" : "the rate-limit count, then the rotation's transaction"}`, async () => {
    let token = user.refreshToken;
    const counts = await statementsOf(async () => {
      const r = await gql(server.url, REFRESH, { token });
      expect(errorCode(r)).toBeUndefined();
      token = r.body.data!.refreshToken.refreshToken;
    });
    // The count (an upsert), the session read under lock, its update; begin and commit around.
    expect(counts).toMatchObject({ all: 5, writes: 2, transactions: 1 });
    const begin = counts.sql.findIndex((q) => /^(begin|start transaction)\b/.test(q));
    const count = counts.sql.findIndex((q) => q.startsWith("insert into rate_limit_counters"));
    expect(count).toBeGreaterThanOrEqual(0);
    if (sqlite) expect(count).toBe(begin + 1);
    else expect(count).toBeLessThan(begin);
    user.refreshToken = token;
  });

  it("login: the count, the throttle's record, the user, the second-factor checks and the session", async () => {
    const once = () =>
      statementsOf(async () => {
        expect(errorCode(await gql(server.url, LOGIN, { email: user.email, password: user.password }))).toBeUndefined();
      });
    const first = await once();
    // The count; the throttle's place, one statement (on PostgreSQL in a transaction after an advisory lock
    // on the email; on SQLite the statement's own write lock is that); the user; then one transaction: the
    // factors (none, so no recovery-code check), the session and the place forgiven.
    expect(first).toMatchObject({ all: sqlite ? 9 : 12, writes: 4, transactions: sqlite ? 1 : 2 });
    expect(first.sql.filter((q) => q.includes("recovery_codes"))).toEqual([]);
    const forgiven = first.sql.findIndex((q) => q.startsWith("delete from login_attempts"));
    expect(forgiven).toBeGreaterThan(first.sql.findIndex((q) => q.startsWith("insert into sessions")));
    expect(first.sql[forgiven + 1]).toMatch(/^commit\b/);
    expect((await once()).all).toBe(first.all);
  });
});

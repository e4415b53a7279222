import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { cli } from "./helpers/cli";
import { TEST_DATABASE } from "./helpers/database";
import { type GraphQLResponse, gql, LOGIN, me, refresh, register, type Tokens } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";

/**
 * BEHAVIOUR.md §11 on SQLite: the operator CLI is another process writing to
 * the server's database file. Its writes must make the server's writes wait
 * (BEGIN IMMEDIATE + busy_timeout), never fail with "database is locked", and
 * `prune` must delete in batches short enough that no request stalls behind it.
 */

const LOCKED = /database is locked|SQLITE_BUSY/i;

/** Every response a loop saw that was not a clean success, with what it was, for the assertion message. */
type Failure = { what: string; status: number; text: string };

function failureOf(what: string, r: GraphQLResponse): Failure | null {
  return r.status === 200 && r.body.errors === undefined ? null : { what, status: r.status, text: r.text };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

const round = (s: ReturnType<typeof summary>) =>
  `n=${s.count} p50=${s.p50.toFixed(1)}ms p99=${s.p99.toFixed(1)}ms max=${s.max.toFixed(1)}ms`;

async function withServer(body: (server: TestServer) => Promise<void>): Promise<void> {
  const server = await startServer();
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

describe.skipIf(TEST_DATABASE !== "sqlite")("SQLite: operator CLI writes while the server is under load (§11)", () => {
  it("grant-role / revoke-sessions / revoke-role looping while 16 connections refresh: no 5xx, no error at all", async () => {
    await withServer(async (server) => {
      const target = await register(server.url);
      const refreshers = await Promise.all(Array.from({ length: 16 }, () => register(server.url)));
      // Another ADMIN, so that revoking target's never leaves none (BEHAVIOUR.md §12).
      expect((await cli(server.databaseUrl, "grant-role", refreshers[0]!.email, "ADMIN")).code).toBe(0);

      const CLI_CYCLES = 4;
      const MAX_DURATION_MS = 30_000;
      const started = Date.now();
      let cliDone = false;
      const failures: Failure[] = [];
      const statuses = new Map<number, number>();
      const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
      const refreshLatencies: number[] = [];
      let refreshesDuringCli = 0;

      // 16 users, each rotating its own session as fast as it can on its own connection.
      const refreshLoop = async (user: Tokens) => {
        let token = user.refreshToken;
        let iterations = 0;
        while (!cliDone && Date.now() - started < MAX_DURATION_MS) {
          const t0 = performance.now();
          const r = await refresh(server.url, token);
          refreshLatencies.push(performance.now() - t0);
          count(r.status);
          const failure = failureOf(`refresh ${user.user.email}#${iterations}`, r);
          const next = r.body.data?.refreshToken?.refreshToken;
          if (failure !== null || !next) {
            failures.push(failure ?? { what: `refresh ${user.user.email}: no token`, status: r.status, text: r.text });
            return; // its token chain is broken; the assertion below reports it
          }
          token = next;
          iterations += 1;
          if (!cliDone) refreshesDuringCli += 1;
        }
        // The chain survived: the newest token still works after the load.
        const last = await refresh(server.url, token);
        const failure = failureOf(`final refresh ${user.user.email}`, last);
        if (failure !== null) failures.push(failure);
      };

      // Meanwhile the operator CLI, one process after another, on `target` only.
      const cliRuns: Array<{ args: string[]; code: number | null; stdout: string; stderr: string; ms: number }> = [];
      const runCli = async (...args: string[]) => {
        const t0 = performance.now();
        const r = await cli(server.databaseUrl, ...args);
        cliRuns.push({ args, ...r, ms: performance.now() - t0 });
        return r;
      };
      const cliLoop = async () => {
        try {
          for (let cycle = 0; cycle < CLI_CYCLES && Date.now() - started < MAX_DURATION_MS; cycle++) {
            await runCli("grant-role", target.email, "ADMIN");
            // A fresh session for revoke-sessions to end (a server write too).
            const login = await gql(server.url, LOGIN, { email: target.email, password: target.password });
            count(login.status);
            const failure = failureOf(`login ${target.email}`, login);
            if (failure !== null) failures.push(failure);
            await runCli("revoke-sessions", target.email);
            await runCli("revoke-role", target.email, "ADMIN");
          }
        } finally {
          cliDone = true;
        }
      };

      await Promise.all([cliLoop(), ...refreshers.map(refreshLoop)]);

      const elapsed = Date.now() - started;
      console.log(
        `[sqlite-concurrency] ${elapsed} ms, ${refreshLatencies.length} refreshes (${refreshesDuringCli} while the CLI ran), ` +
          `${cliRuns.length} CLI runs (${cliRuns.map((r) => `${r.args[0]} ${r.ms.toFixed(0)}ms`).join(", ")}); ` +
          `refresh latency ${round(summary(refreshLatencies))}; statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
      );

      expect(failures).toEqual([]);
      expect([...statuses.keys()]).toEqual([200]);
      expect(cliRuns).toHaveLength(3 * CLI_CYCLES);
      for (const run of cliRuns) {
        expect(run, `${run.args.join(" ")}: ${run.stderr}`).toMatchObject({ code: 0 });
        expect(run.stderr).not.toMatch(LOCKED);
      }
      // Each revoke-sessions ended the sessions started since the last one (the first: also register's).
      expect(cliRuns.filter((r) => r.args[0] === "revoke-sessions").map((r) => r.stdout.trim())).toEqual(
        Array.from(
          { length: CLI_CYCLES },
          (_, i) => `ended ${i === 0 ? 2 : 1} session(s) of ${target.email.toLowerCase()}`,
        ),
      );
      expect(refreshesDuringCli).toBeGreaterThanOrEqual(16 * 10); // the CLI really overlapped the load
      expect(server.logs.filter((line) => LOCKED.test(line))).toEqual([]);

      // The CLI's final state is what the server sees.
      const [row] = await server.sql<{ roles: string }>("select roles from users where id = ?", [target.user.id]);
      expect(JSON.parse(row!.roles)).toEqual(["USER"]);
    });
  }, 60_000);

  it("prune of 50,000 dead sessions (CLI) deletes them all without stalling requests", async () => {
    await withServer(async (server) => {
      const DEAD = 50_000;
      const owner = await register(server.url);
      const live = await register(server.url);
      const writer = await register(server.url);

      // 50,000 sessions of `owner` that ended 30 days ago, in one statement.
      const day = 86_400_000;
      const now = Date.now();
      await server.sql(
        `insert into sessions (id, user_id, created_at, last_used_at, expires_at, ended_at, end_reason, user_agent, ip,
           refresh_generation, refresh_rotated_at, refresh_retired_below, refresh_secret, refresh_key_id, legacy_token_hash)
         with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)
         select lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
                  || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
                ?, ?, ?, ?, ?, 'LOGOUT', 'load-test', '127.0.0.1', 3, ?, 0, lower(hex(randomblob(32))), null, null
         from n`,
        [DEAD, owner.user.id, now - 60 * day, now - 30 * day, now + 300 * day, now - 30 * day, now - 30 * day],
      );
      const [{ n: inserted }] = await server.sql<{ n: number }>(
        "select count(*) as n from sessions where user_id = ?",
        [owner.user.id],
      );
      expect(inserted).toBe(DEAD + 1); // and owner's own live session from register

      // Clients during the prune: `me` (a read) and `refreshToken` (a write, which
      // has to wait for the CLI's write lock), each sequential, every ~10 ms.
      let pruning = true;
      const failures: Failure[] = [];
      const meLatencies: number[] = [];
      const refreshLatencies: number[] = [];
      const meLoop = async () => {
        while (pruning) {
          const t0 = performance.now();
          const r = await me(server.url, live.accessToken);
          meLatencies.push(performance.now() - t0);
          const failure = failureOf("me", r);
          if (failure !== null || r.body.data?.me.id !== live.user.id) {
            failures.push(failure ?? { what: "me: wrong user", status: r.status, text: r.text });
          }
          await sleep(10);
        }
      };
      let writerToken = writer.refreshToken;
      const refreshLoop = async () => {
        while (pruning) {
          const t0 = performance.now();
          const r = await refresh(server.url, writerToken);
          refreshLatencies.push(performance.now() - t0);
          const next = r.body.data?.refreshToken?.refreshToken;
          const failure = failureOf("refresh", r);
          if (failure !== null || !next) {
            failures.push(failure ?? { what: "refresh: no token", status: r.status, text: r.text });
            return;
          }
          writerToken = next;
          await sleep(10);
        }
      };

      const loops = Promise.all([meLoop(), refreshLoop()]);
      const t0 = performance.now();
      const result = await cli(server.databaseUrl, "prune").finally(() => {
        pruning = false;
      });
      const pruneMs = performance.now() - t0;
      await loops;

      const meStats = summary(meLatencies);
      const refreshStats = summary(refreshLatencies);
      console.log(
        `[sqlite-concurrency] prune of ${DEAD} took ${pruneMs.toFixed(0)} ms (CLI process incl. start-up); ` +
          `me ${round(meStats)}; refresh ${round(refreshStats)}`,
      );

      expect(result, result.stderr).toMatchObject({ code: 0 });
      expect(result.stdout).toMatch(new RegExp(`deleted ${DEAD} session\\(s\\)`));
      expect(
        await server.sql("select id from sessions where user_id = ? and ended_at is not null", [owner.user.id]),
      ).toEqual([]);
      expect(failures).toEqual([]);
      expect(meStats.count).toBeGreaterThan(10);
      expect(refreshStats.count).toBeGreaterThan(10);
      // A freeze bound, not a benchmark: one big delete held the write lock for 2–4 s.
      expect(meStats.max).toBeLessThan(500);
      expect(refreshStats.max).toBeLessThan(500);
      expect(server.logs.filter((line) => LOCKED.test(line))).toEqual([]);

      // Live sessions keep working: access tokens, and rotation.
      expect((await me(server.url, live.accessToken)).body.data?.me.id).toBe(live.user.id);
      expect((await me(server.url, owner.accessToken)).body.data?.me.id).toBe(owner.user.id);
      for (const [user, token] of [
        [live, live.refreshToken],
        [owner, owner.refreshToken],
        [writer, writerToken],
      ] as const) {
        const r = await refresh(server.url, token);
        expect(r.body.errors).toBeUndefined();
        expect(r.body.data?.refreshToken.user.id).toBe(user.user.id);
      }
    });
  }, 60_000);
});

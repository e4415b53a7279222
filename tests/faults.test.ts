import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import type { AbstractSqlConnection } from "@mikro-orm/knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/orm";
import { freshDatabaseUrl, TEST_DATABASE } from "./helpers/database";
import { errorCode, type GraphQLResponse, gql, LOGIN, ME, me, refresh, register, type Tokens } from "./helpers/graphql";
import { spawnServer, tempDir } from "./helpers/process";
import { startServer, TEST_ENV } from "./helpers/server";

const run = promisify(execFile);
const POSTGRES_SCRIPT = join(__dirname, "..", ".ci", "postgres.sh");
/** What a client must never see, whatever broke. */
const INTERNALS = /ECONNREFUSED|terminating connection|MikroORM|knex|Knex|select |stack|\.ts:/i;

/** A client that keeps rotating its own refresh token and remembers the last one the server acknowledged. */
interface Chain {
  user: Tokens & { email: string; password: string };
  acknowledged: string;
  rotations: number;
}

async function rotateOnce(url: string, chain: Chain): Promise<GraphQLResponse | null> {
  try {
    const r = await refresh(url, chain.acknowledged);
    const next = r.body.data?.refreshToken?.refreshToken;
    if (typeof next === "string") {
      chain.acknowledged = next;
      chain.rotations += 1;
    }
    return r;
  } catch {
    return null; // connection refused or reset: nothing was acknowledged
  }
}

/** Waits (bounded) until `done()` holds; polls, it does not wait for time to pass. */
async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

async function newChains(url: string, n: number): Promise<Chain[]> {
  const chains: Chain[] = [];
  for (let i = 0; i < n; i++) {
    const user = await register(url);
    chains.push({ user, acknowledged: user.refreshToken, rotations: 0 });
  }
  return chains;
}

/** Every chain continues from its last acknowledged token, and its password still signs in. */
async function expectNothingLost(url: string, chains: Chain[]): Promise<void> {
  for (const chain of chains) {
    // Either unused, or used by a request whose answer was lost, which the grace rule allows once more.
    const r = await refresh(url, chain.acknowledged);
    expect(r.body.errors, chain.user.email).toBeUndefined();
    expect((await me(url, r.body.data!.refreshToken.accessToken)).body.data?.me.id).toBe(chain.user.user.id);
    expect(
      (await gql(url, LOGIN, { email: chain.user.email, password: chain.user.password })).body.errors,
    ).toBeUndefined();
  }
}

describe("a server process killed with SIGKILL mid-load", () => {
  it("loses no session, registration or rotation that was acknowledged to a client", async () => {
    const DATABASE_URL = await freshDatabaseUrl();
    const env = { ...TEST_ENV, DATABASE_URL };
    const first = await spawnServer(tempDir(), env);
    const chains = await newChains(first.url, 6);
    // Every client rotates as fast as it can; the process dies in the middle.
    let stop = false;
    const load = chains.map(async (chain) => {
      while (!stop) if ((await rotateOnce(first.url, chain)) === null) break;
    });
    await until("every client rotated a few times", () => chains.every((c) => c.rotations >= 5));
    first.child.kill("SIGKILL");
    stop = true;
    await Promise.all(load);

    const second = await spawnServer(tempDir(), env);
    try {
      await expectNothingLost(second.url, chains);
    } finally {
      await second.stop();
    }
  });
});

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}

/**
 * A PostgreSQL cluster of this test's own (port, data directory), so stopping
 * it breaks no other test file running beside this one on the shared cluster.
 */
async function throwawayCluster() {
  const env = {
    ...process.env,
    PGPORT: String(await freePort()),
    PGDATA: join(tmpdir(), `auth-faults-pg-${randomBytes(6).toString("hex")}`),
  };
  const script = (command: "start" | "stop") => run("bash", [POSTGRES_SCRIPT, command], { env });
  const url = (await script("start")).stdout.trim();
  return {
    url,
    start: () => script("start"),
    stop: () => script("stop"),
    async remove() {
      await script("stop");
      rmSync(env.PGDATA, { recursive: true, force: true });
    },
  };
}

describe.skipIf(TEST_DATABASE !== "postgres")("PostgreSQL stopped and started again under load", () => {
  let cluster: Awaited<ReturnType<typeof throwawayCluster>>;
  beforeAll(async () => {
    cluster = await throwawayCluster();
  });
  afterAll(async () => {
    await cluster?.remove();
  });

  it("answers SERVICE_UNAVAILABLE within a second and /readyz 503 while it is down, recovers without a restart, and loses nothing acknowledged", async () => {
    const server = await startServer({}, cluster.url);
    try {
      const chains = await newChains(server.url, 4);
      let stop = false;
      const seen: Array<{ r: GraphQLResponse; ms: number; chain: Chain }> = [];
      const timed = async (chain: Chain, request: () => Promise<GraphQLResponse | null>) => {
        const started = performance.now();
        const r = await request();
        if (r) seen.push({ r, ms: performance.now() - started, chain });
      };
      const sawOutage = (chain: Chain) =>
        seen.some((s) => s.chain === chain && errorCode(s.r) === "SERVICE_UNAVAILABLE");
      const load = chains.map(async (chain) => {
        while (!stop) {
          await timed(chain, () => rotateOnce(server.url, chain));
          await timed(chain, () => me(server.url, chain.user.accessToken));
        }
      });

      await until("every client rotated under load", () => chains.every((c) => c.rotations >= 3));
      await cluster.stop();

      // Down: fail fast, with the code and the HTTP status that say "retry later".
      const started = performance.now();
      const down = await gql(server.url, ME, {}, { token: chains[0]!.user.accessToken });
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(down.status).toBe(503);
      expect(errorCode(down)).toBe("SERVICE_UNAVAILABLE");
      expect(down.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThanOrEqual(1);
      expect(Number(down.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      await until("every client saw the outage", () => chains.every(sawOutage));

      await cluster.start();
      await until("/readyz answers 200 again", async () => (await fetch(`${server.url}/readyz`)).status === 200);
      const rotationsAtRecovery = chains.map((c) => c.rotations);
      await until("every client rotated again", () => chains.every((c, i) => c.rotations > rotationsAtRecovery[i]!));
      stop = true;
      await Promise.all(load);

      for (const { r, ms } of seen) {
        const code = errorCode(r);
        expect([undefined, "SERVICE_UNAVAILABLE"], r.text).toContain(code);
        expect(r.text).not.toMatch(INTERNALS);
        if (code === "SERVICE_UNAVAILABLE") {
          expect(r.status).toBe(503);
          expect(ms).toBeLessThan(1_000);
        } else expect(r.status).toBe(200);
      }
      await expectNothingLost(server.url, chains);
    } finally {
      await server.close();
    }
  }, 60_000);
});

describe.skipIf(TEST_DATABASE !== "postgres")("every PostgreSQL connection of the pool taken", () => {
  it("answers SERVICE_UNAVAILABLE after the short acquire timeout, not a minute later, and works once one is free", async () => {
    const server = await startServer();
    try {
      const user = await register(server.url);
      const knex = (server.app.orm.em.getConnection() as AbstractSqlConnection).getKnex();
      // Held the way a stuck query would hold them: every connection the pool may open.
      const held = await Promise.all(Array.from({ length: 10 }, () => knex.client.acquireConnection()));
      const started = performance.now();
      const r = await gql(server.url, ME, {}, { token: user.accessToken });
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(r.status).toBe(503);
      expect(errorCode(r)).toBe("SERVICE_UNAVAILABLE");
      expect(r.text).not.toMatch(INTERNALS);
      for (const connection of held) await knex.client.releaseConnection(connection);
      expect((await me(server.url, user.accessToken)).body.data?.me.id).toBe(user.user.id);
    } finally {
      await server.close();
    }
  });
});

describe.skipIf(TEST_DATABASE !== "sqlite")("SQLite locked by another writer past its busy timeout", () => {
  it("answers SERVICE_UNAVAILABLE for the write that waited, and the same request succeeds once the lock is gone", async () => {
    const server = await startServer();
    if (server.config.database.kind !== "sqlite") throw new Error("unreachable");
    const other = await openDatabase(server.config.database, { migrate: false });
    try {
      const user = await register(server.url);
      // Another process (a long CLI task, a backup tool) holding the write lock.
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked = () => {};
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = other.em.fork().transactional(async (tx) => {
        await tx
          .getConnection()
          .execute("update users set updated_at = updated_at", [], "run", tx.getTransactionContext());
        locked();
        await released;
      });
      await isLocked;
      const r = await refresh(server.url, user.refreshToken);
      expect(r.status).toBe(503);
      expect(errorCode(r)).toBe("SERVICE_UNAVAILABLE");
      expect(r.text).not.toMatch(INTERNALS);
      release();
      await holder;
      // Nothing of the refused rotation happened: the same token still rotates.
      expect((await refresh(server.url, user.refreshToken)).body.data?.refreshToken.user.id).toBe(user.user.id);
    } finally {
      await other.close();
      await server.close();
    }
  });
});

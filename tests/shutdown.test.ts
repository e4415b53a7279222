import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { freshDatabaseUrl, TEST_DATABASE } from "./helpers/database";
import { LOGIN, register } from "./helpers/graphql";
import { type ServerProcess, spawnServer, tempDir } from "./helpers/process";
import { TEST_ENV } from "./helpers/server";

const ROOT = join(__dirname, "..");

/** Waits (bounded) until `done()` holds; polls, it does not wait for time to pass. */
async function until(what: string, done: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
}

const logLines = (output: string) =>
  output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { msg?: string; pid?: number; req?: { path?: string } });

const incomingGraphQL = (server: ServerProcess) =>
  logLines(server.output()).filter((l) => l.msg === "incoming request" && l.req?.path === "/graphql").length;

interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
}

/** One POST /graphql over `agent` (keep-alive sockets), as a plain HTTP client sees it. */
function post(agent: Agent, url: string, payload: object): Promise<Answer> {
  const body = JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/graphql`,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          text += chunk;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            connection: res.headers.connection,
            body: text,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A request the server can never finish: headers sent, the body stalls. */
async function stalledRequest(url: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on("error", () => undefined);
  await once(socket, "connect");
  socket.write(
    "POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
  );
  return socket;
}

function exitOf(server: ServerProcess): Promise<number | null> {
  if (server.child.exitCode !== null) return Promise.resolve(server.child.exitCode);
  return once(server.child, "exit").then(([code]) => code as number | null);
}

// `debug`: the tests wait for a request's arrival line ("incoming request"), which only that level writes.
const baseEnv = async () => ({ ...TEST_ENV, DATABASE_URL: await freshDatabaseUrl(), LOG_LEVEL: "debug" });

/**
 * A keep-alive HTTP/1.1 connection driven byte by byte, so a test decides
 * exactly when a request is complete. Resolves responses in order.
 */
async function rawConnection(url: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let buffer = Buffer.alloc(0);
  let error: Error | undefined;
  const waiting: Array<(r: { status: number; headers: Record<string, string>; body: string }) => void> = [];
  socket.on("error", (e) => {
    error = e;
  });
  socket.on("data", (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const [statusLine, ...lines] = buffer.subarray(0, end).toString("latin1").split("\r\n");
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
      );
      const length = Number(headers["content-length"] ?? 0);
      if (buffer.length < end + 4 + length) return;
      const body = buffer.subarray(end + 4, end + 4 + length).toString("utf8");
      buffer = buffer.subarray(end + 4 + length);
      waiting.shift()?.({ status: Number(statusLine?.split(" ")[1]), headers, body });
    }
  });
  const closed = once(socket, "close");
  await once(socket, "connect");
  const head = (body: string) =>
    `POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  return {
    socket,
    closed,
    error: () => error,
    /** Sends the whole request now, or all but its last `holdBack` bytes (send those with `finish`). */
    send(payload: object, holdBack = 0) {
      const body = JSON.stringify(payload);
      const response = new Promise<{ status: number; headers: Record<string, string>; body: string }>((resolve) =>
        waiting.push(resolve),
      );
      socket.write(head(body) + body.slice(0, body.length - holdBack));
      return { response, finish: () => socket.write(body.slice(body.length - holdBack)) };
    },
  };
}

describe("stopping the server (BEHAVIOUR.md §1)", () => {
  it("on SIGTERM under load answers every in-flight request with Connection: close, resets none, closes idle sockets, and exits 0", async () => {
    const env = await baseEnv();
    // The OWASP argon2 cost and two hashes at a time: logins take long enough to be in flight when the signal lands.
    const server = await spawnServer(tempDir(), {
      ...env,
      ARGON2_MEMORY_KIB: "19456",
      ARGON2_TIME_COST: "2",
      HASH_MAX_CONCURRENT: "2",
    });
    const user = await register(server.url);
    const login = { query: LOGIN, variables: { email: user.email, password: user.password } };
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const sockets: Array<Awaited<ReturnType<typeof rawConnection>>> = [];
    try {
      // Keep-alive connections, each having answered one request already.
      for (let i = 0; i < 30; i++) sockets.push(await rawConnection(server.url));
      for (const c of sockets) {
        const first = await c.send({ query: "{ __typename }" }).response;
        expect(first.headers.connection).toBe("keep-alive");
      }
      const held = sockets.slice(10); // the first 10 stay idle
      const before = incomingGraphQL(server);
      // In flight for certain: these requests cannot complete before their last bytes arrive, after the signal.
      const pending = held.map((c) => c.send(login, 5));
      // And the load: logins queueing for the hasher.
      const LOGINS = 32;
      const load = Promise.allSettled(Array.from({ length: LOGINS }, () => post(agent, server.url, login)));
      await until(
        "the server has received every request",
        () => incomingGraphQL(server) >= before + held.length + LOGINS,
      );

      const signalled = performance.now();
      server.child.kill("SIGTERM");
      await until("the server is stopping", () => logLines(server.output()).some((l) => /^stopping/.test(l.msg ?? "")));
      for (const p of pending) p.finish();
      const code = await exitOf(server);
      const exitedAfter = performance.now() - signalled;

      for (const p of pending) {
        const r = await p.response;
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body).data?.login?.accessToken).toBeTypeOf("string");
        // The client is told to let the socket go, so it never sends a next request on it to be reset.
        expect(r.headers.connection).toBe("close");
      }
      for (const c of sockets) {
        await c.closed;
        expect(c.error()).toBeUndefined();
      }
      // No load client saw a reset or a refused connection: every request got its answer.
      const results = await load;
      expect(results.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []))).toEqual([]);
      const answers = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      for (const a of answers) {
        expect(a.status).toBe(200);
        expect(JSON.parse(a.body).data?.login?.accessToken).toBeTypeOf("string");
      }
      expect(answers.some((a) => a.connection === "close")).toBe(true);
      expect(code).toBe(0);
      // Idle keep-alive sockets were closed, not waited out (5 s each, more than the whole stop took).
      expect(exitedAfter).toBeLessThan(5_000);
      // The database was closed: SQLite folds its write-ahead log back into the file.
      if (TEST_DATABASE === "sqlite") expect(existsSync(`${env.DATABASE_URL.slice("sqlite:".length)}-wal`)).toBe(false);
    } finally {
      agent.destroy();
      for (const c of sockets) c.socket.destroy();
      server.child.kill("SIGKILL");
    }
  }, 60_000);

  it("exits 1 once SHUTDOWN_TIMEOUT has passed with a request that cannot finish", async () => {
    const server = await spawnServer(tempDir(), { ...(await baseEnv()), SHUTDOWN_TIMEOUT: "1" });
    const stalled = await stalledRequest(server.url);
    try {
      await until("the server has received the stalled request", () => incomingGraphQL(server) >= 1);
      const signalled = performance.now();
      server.child.kill("SIGTERM");
      expect(await exitOf(server)).toBe(1);
      const took = performance.now() - signalled;
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(4_000);
    } finally {
      stalled.destroy();
      server.child.kill("SIGKILL");
    }
  });

  it("exits at once on a second signal while a stop is stuck", async () => {
    const server = await spawnServer(tempDir(), { ...(await baseEnv()), SHUTDOWN_TIMEOUT: "60" });
    const stalled = await stalledRequest(server.url);
    try {
      await until("the server has received the stalled request", () => incomingGraphQL(server) >= 1);
      server.child.kill("SIGTERM");
      await until("the server is stopping", () => logLines(server.output()).some((l) => /^stopping/.test(l.msg ?? "")));
      // A second signal is a later, separate one: copies of one signal arriving together count once (next test).
      await sleep(1_100);
      const signalled = performance.now();
      server.child.kill("SIGINT");
      expect(await exitOf(server)).toBe(1);
      expect(performance.now() - signalled).toBeLessThan(1_000);
    } finally {
      stalled.destroy();
      server.child.kill("SIGKILL");
    }
  });

  it("counts a copy of the signal arriving within a second (npm forwarding what a terminal sent) as the same stop", async () => {
    const server = await spawnServer(tempDir(), await baseEnv());
    const c = await rawConnection(server.url);
    try {
      const pending = c.send({ query: "{ __typename }" }, 3);
      await until("the server has the request", () => incomingGraphQL(server) >= 1);
      server.child.kill("SIGINT");
      await until("the server is stopping", () => logLines(server.output()).some((l) => /^stopping/.test(l.msg ?? "")));
      server.child.kill("SIGINT");
      await until("the copy was seen", () =>
        logLines(server.output()).some((l) => /same signal again/.test(l.msg ?? "")),
      );
      pending.finish();
      const r = await pending.response;
      expect(r.status).toBe(200);
      expect(r.headers.connection).toBe("close");
      expect(await exitOf(server)).toBe(0);
    } finally {
      c.socket.destroy();
      server.child.kill("SIGKILL");
    }
  });
});

/** What `npm start` runs, minus `prestart` (the build: vitest's global setup has built dist/ already). */
function npmStart(env: Record<string, string>, detached = false) {
  const child = spawn("npm", ["start", "--ignore-scripts"], {
    cwd: ROOT,
    detached,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const serverPid = async () => {
    await until("the server listens", () => /Server listening/.test(output), 20_000);
    const pid = logLines(output).find((l) => l.msg?.startsWith("Server listening"))?.pid;
    if (pid === undefined) throw new Error(`no pid in:\n${output}`);
    return pid;
  };
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return { child, serverPid, exited, output: () => output };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("npm start (BEHAVIOUR.md §1)", () => {
  it("delivers SIGTERM sent to npm to the server: it stops gracefully and npm exits 0", async () => {
    const npm = npmStart(await baseEnv());
    const pid = await npm.serverPid();
    expect(pid).not.toBe(npm.child.pid);
    try {
      npm.child.kill("SIGTERM");
      expect(await npm.exited, npm.output()).toBe(0);
      expect(alive(pid)).toBe(false);
      expect(npm.output()).toMatch(/stopping/);
    } finally {
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  });

  it("stops gracefully on Ctrl-C in a terminal (SIGINT to the whole process group), answering the request in flight", async () => {
    const npm = npmStart(await baseEnv(), true);
    const pid = await npm.serverPid();
    const url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(npm.output())![1]!;
    const c = await rawConnection(url);
    try {
      const pending = c.send({ query: "{ __typename }" }, 3);
      await until("the server has the request", () => /"path":"\/graphql"/.test(npm.output()));
      // A terminal signals the whole foreground process group; npm forwards its copy too.
      process.kill(-npm.child.pid!, "SIGINT");
      await until("the server is stopping", () => /stopping/.test(npm.output()));
      pending.finish();
      const r = await pending.response;
      expect(r.status).toBe(200);
      expect(r.headers.connection).toBe("close");
      expect(await npm.exited, npm.output()).toBe(0);
      expect(alive(pid)).toBe(false);
    } finally {
      c.socket.destroy();
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  });
});

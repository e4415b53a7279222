import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { freshDatabaseUrl } from "./helpers/database";
import { errorCode, gql, LOGIN, me, REFRESH, register } from "./helpers/graphql";
import { runToExit, spawnServer, tempDir } from "./helpers/process";
import { TEST_JWT_SECRET, TEST_SECRET_KEY } from "./helpers/server";

const CHEAP = { ARGON2_MEMORY_KIB: "1024", ARGON2_TIME_COST: "1", AUTH_RATE_LIMIT_PER_MINUTE: "100000" };
// No mail: production otherwise needs SMTP_URL and APP_URL (the mail tests cover those).
const PRODUCTION = {
  NODE_ENV: "production",
  JWT_SECRET: TEST_JWT_SECRET,
  SECRET_KEYS: TEST_SECRET_KEY,
  MAIL_TRANSPORT: "none",
};

describe("the built server process", () => {
  it("starts with no configuration, creating ./data with the database and a kept development secret", async () => {
    const cwd = tempDir();
    const server = await spawnServer(cwd, CHEAP);
    try {
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      const warning = server
        .output()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line))
        .find((entry) => entry.level === 40);
      expect(warning?.msg).toMatch(/JWT_SECRET is not set/);
      expect(statSync(join(cwd, "data", "auth.sqlite")).mode & 0o777).toBe(0o600);
      expect(statSync(join(cwd, "data", "jwt-secret")).mode & 0o777).toBe(0o600);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it("keeps sessions across a restart on the same database file (and the same dev secret)", async () => {
    const cwd = tempDir();
    const DATABASE_URL = await freshDatabaseUrl();
    const first = await spawnServer(cwd, { ...CHEAP, DATABASE_URL });
    const user = await register(first.url);
    expect(await first.stop("SIGTERM")).toBe(0);

    const second = await spawnServer(cwd, { ...CHEAP, DATABASE_URL });
    try {
      expect((await me(second.url, user.accessToken)).body.data?.me.id).toBe(user.user.id);
      const rotated = await gql(second.url, REFRESH, { token: user.refreshToken });
      expect(rotated.body.data?.refreshToken.user.id).toBe(user.user.id);
      expect(errorCode(await gql(second.url, LOGIN, { email: user.email, password: user.password }))).toBeUndefined();
    } finally {
      expect(await second.stop("SIGINT")).toBe(0);
    }
  });

  it("finishes an in-flight request on SIGTERM, then exits 0", async () => {
    const cwd = tempDir();
    // Default (OWASP) argon2 cost, so the login is still running when the signal lands.
    const server = await spawnServer(cwd, {
      DATABASE_URL: await freshDatabaseUrl(),
      AUTH_RATE_LIMIT_PER_MINUTE: "1000",
      // The arrival line ("incoming request") is written at debug only.
      LOG_LEVEL: "debug",
    });
    const user = await register(server.url);
    const requests = () => server.output().split("incoming request").length;
    const before = requests();
    const inFlight = gql(server.url, LOGIN, { email: user.email, password: user.password });
    // Signal only once the server has the request: before that, it would be a new connection, refused.
    await vi.waitFor(() => expect(requests()).toBeGreaterThan(before), { interval: 1, timeout: 5_000 });
    const exited = server.stop("SIGTERM");
    const response = await inFlight;
    expect(response.body.data?.login.accessToken).toBeTypeOf("string");
    expect(await exited).toBe(0);
  });

  it("logs each request once at the default level: method, path without the query, address, id, status, time", async () => {
    const cwd = tempDir();
    const server = await spawnServer(cwd, { ...CHEAP, DATABASE_URL: await freshDatabaseUrl() });
    const user = await register(server.url);
    const lines = () =>
      server
        .output()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line));
    const before = lines().length;
    const response = await fetch(`${server.url}/graphql?query=${encodeURIComponent("{me{id}}")}`, {
      headers: { "apollo-require-preflight": "true", authorization: `Bearer ${user.accessToken}` },
    });
    expect(response.status).toBe(200);
    await vi.waitFor(() => expect(lines().some((line) => line.req?.method === "GET")).toBe(true), {
      interval: 5,
      timeout: 5_000,
    });
    await server.stop();
    // Every line about a request carries its id; the rest are the server's own (maintenance, shutdown).
    // The registration's line is written once its response is sent, so it may come after `before`.
    const written = lines()
      .slice(before)
      .filter((line) => line.reqId !== undefined && line.req?.method !== "POST");
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({
      level: 30,
      msg: "request completed",
      req: { method: "GET", path: "/graphql", ip: "127.0.0.1" },
      res: { statusCode: 200 },
      reqId: expect.any(String),
      responseTime: expect.any(Number),
    });
    // Nothing else: what the request line carries is allow-listed by the serializers (src/http/logger.ts).
    expect(Object.keys(written[0]).sort()).toEqual(
      ["hostname", "level", "msg", "pid", "reqId", "req", "res", "responseTime", "time"].sort(),
    );
    expect(Object.keys(written[0].req).sort()).toEqual(["ip", "method", "path"]);
    expect(Object.keys(written[0].res)).toEqual(["statusCode"]);
    expect(written[0].time).toBe(new Date(written[0].time).toISOString());
    expect(lines().some((line) => line.msg === "incoming request")).toBe(false);
    // Done through Fastify's LogController: its deprecated `disableRequestLogging` warns at start.
    expect(server.output()).not.toMatch(/Deprecation/);
  });

  it("never writes passwords or tokens to its log", async () => {
    const cwd = tempDir();
    const server = await spawnServer(cwd, { ...CHEAP, LOG_LEVEL: "trace" });
    const password = "CANARY-PW-7f3c correct horse";
    const user = await register(server.url, { email: "canary@example.com", password });
    await gql(server.url, LOGIN, { email: "canary@example.com", password: `${password}-wrong` });
    await gql(server.url, REFRESH, { token: user.refreshToken });
    await me(server.url, user.accessToken);
    await fetch(
      `${server.url}/graphql?query=${encodeURIComponent(`{me{id}}`)}&variables=${encodeURIComponent(JSON.stringify({ p: password }))}`,
      {
        headers: { "apollo-require-preflight": "true", authorization: `Bearer ${user.accessToken}` },
      },
    );
    await server.stop();
    const log = server.output();
    expect(log).toContain("incoming request");
    expect(log).not.toContain("CANARY");
    expect(log).not.toContain(user.refreshToken);
    expect(log).not.toContain(user.accessToken);
    expect(log).not.toContain(user.accessToken.split(".")[2]);
  });
});

describe("production mode", () => {
  it.each([
    ["JWT_SECRET unset", "JWT_SECRET", { NODE_ENV: "production", SECRET_KEYS: TEST_SECRET_KEY }],
    ["JWT_SECRET empty", "JWT_SECRET", { NODE_ENV: "production", JWT_SECRET: "", SECRET_KEYS: TEST_SECRET_KEY }],
    ["JWT_SECRET too short", "JWT_SECRET", { ...PRODUCTION, JWT_SECRET: "secret" }],
    ["SECRET_KEYS unset", "SECRET_KEYS", { NODE_ENV: "production", JWT_SECRET: TEST_JWT_SECRET }],
    ["SECRET_KEYS with a short key", "SECRET_KEYS", { ...PRODUCTION, SECRET_KEYS: `${TEST_SECRET_KEY},abcd` }],
    ["REFRESH_TOKEN_TTL below ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", { ...PRODUCTION, REFRESH_TOKEN_TTL: "60" }],
  ])("refuses to start with %s, naming the variable", async (_name, variable, env) => {
    const { code, output } = await runToExit(tempDir(), env);
    expect(code).not.toBe(0);
    expect(output).toContain(variable);
    expect(output).not.toMatch(/Server listening/);
  });

  it("refuses argon2 parameters below the OWASP minimum", async () => {
    const { code, output } = await runToExit(tempDir(), { ...PRODUCTION, ...CHEAP });
    expect(code).not.toBe(0);
    expect(output).toMatch(/ARGON2_MEMORY_KIB/);
  });

  it("turns introspection, field suggestions and the Sandbox landing page off", async () => {
    const server = await spawnServer(tempDir(), PRODUCTION);
    try {
      const introspection = await gql(server.url, "{ __schema { types { name } } }");
      expect(introspection.status).toBe(400);
      expect(introspection.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
      const typo = await gql(server.url, "{ mee { id } }");
      expect(typo.text).not.toMatch(/Did you mean/);
      const page = await fetch(`${server.url}/graphql`, { headers: { accept: "text/html" } });
      expect(await page.text()).not.toMatch(/embeddable-sandbox|sandbox\.embed/i);
      // Nothing here serves HTML in production: a CSP that allows nothing, on every response.
      for (const r of [typo, page]) {
        expect(r.headers.get("content-security-policy")).toBe("default-src 'none';frame-ancestors 'none'");
        expect(r.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains");
      }
    } finally {
      await server.stop();
    }
  });

  it("keeps field suggestions and introspection outside production", async () => {
    const server = await spawnServer(tempDir(), CHEAP);
    try {
      expect((await gql(server.url, "{ __schema { queryType { name } } }")).body.data).toEqual({
        __schema: { queryType: { name: "Query" } },
      });
    } finally {
      await server.stop();
    }
  });
});

describe("configuration errors stop the start with the variable's name", () => {
  it.each([
    ["PORT", { PORT: "eighty" }],
    ["ACCESS_TOKEN_TTL", { ACCESS_TOKEN_TTL: "-5" }],
    ["JWT_ALGORITHM", { JWT_ALGORITHM: "HS1024" }],
    ["DATABASE_URL", { DATABASE_URL: "mysql://localhost/db" }],
    ["PASSWORD_MIN_LENGTH", { PASSWORD_MIN_LENGTH: "6" }],
    ["GRAPHQL_INTROSPECTION", { GRAPHQL_INTROSPECTION: "maybe" }],
    ["SHUTDOWN_TIMEOUT", { SHUTDOWN_TIMEOUT: "0" }],
  ])("%s", async (name, env) => {
    const { code, output } = await runToExit(tempDir(), { ...CHEAP, ...env });
    expect(code).not.toBe(0);
    expect(output).toContain(name);
    expect(output).not.toMatch(/Server listening|at .*\.js:\d+/);
  });
});

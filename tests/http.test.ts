import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorCode, gql, LOGIN, LOGOUT, ME, newCredentials, REFRESH, REGISTER, register } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const post = (body: string, headers: Record<string, string> = { "content-type": "application/json" }) =>
  fetch(`${server.url}/graphql`, { method: "POST", headers, body });

describe("HTTP transport", () => {
  it("marks every token-bearing response Cache-Control: no-store", async () => {
    const user = await register(server.url);
    const responses = [
      await gql(server.url, REGISTER, newCredentials()),
      await gql(server.url, LOGIN, { email: user.email, password: user.password }),
      await gql(server.url, REFRESH, { token: user.refreshToken }),
    ];
    for (const r of responses) {
      expect(r.body.errors).toBeUndefined();
      expect(r.headers.get("cache-control")).toBe("no-store");
      expect(r.headers.get("pragma")).toBe("no-cache");
    }
  });

  it("answers a body over 64 KiB with 413 before any work", async () => {
    const r = await post(JSON.stringify({ query: ME, variables: { pad: "x".repeat(65 * 1024) } }));
    expect(r.status).toBe(413);
  });

  it("refuses batched (array) requests", async () => {
    const one = { query: LOGIN, variables: { email: "a@example.com", password: "whatever password" } };
    const r = await post(JSON.stringify([one, one]));
    expect(r.status).toBe(400);
    expect(await r.text()).not.toContain('accessToken":"');
  });

  it("keeps CSRF prevention on: a text/plain logout is refused and the token still works", async () => {
    const user = await register(server.url);
    const r = await post(JSON.stringify({ query: LOGOUT, variables: { token: user.refreshToken } }), {
      "content-type": "text/plain",
    });
    expect(r.status).toBe(400);
    expect((await gql(server.url, REFRESH, { token: user.refreshToken })).body.errors).toBeUndefined();
  });

  it("runs queries but never mutations over GET", async () => {
    const user = await register(server.url);
    const query = await fetch(`${server.url}/graphql?query=${encodeURIComponent("{ me { id } }")}`, {
      headers: { "apollo-require-preflight": "true", authorization: `Bearer ${user.accessToken}` },
    });
    expect(query.status).toBe(200);
    expect(((await query.json()) as { data: { me: { id: string } } }).data.me.id).toBe(user.user.id);
    const mutation = await fetch(
      `${server.url}/graphql?query=${encodeURIComponent(`mutation { logout(refreshToken: "${user.refreshToken}") }`)}`,
      {
        headers: { "apollo-require-preflight": "true" },
      },
    );
    expect(mutation.status).toBe(405);
  });

  it("answers malformed requests with 400, never 500", async () => {
    expect((await post("{not json")).status).toBe(400);
    expect((await post(JSON.stringify({ query: "{ me { " }))).status).toBe(400);
    expect((await post(JSON.stringify({ query: "{ nope }" }))).status).toBe(400);
    const wrongType = await post(JSON.stringify({ query: REFRESH, variables: { token: 42 } }));
    expect(wrongType.status).toBe(400);
  });

  it("serves /healthz and /readyz", async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it("serves the Apollo Sandbox landing page to browsers outside production", async () => {
    const r = await fetch(`${server.url}/graphql`, { headers: { accept: "text/html" } });
    expect(r.status).toBe(200);
    expect(await r.text()).toMatch(/sandbox/i);
  });
});

const INTERNALS = /stack|MikroORM|SQLITE|knex|select |ECONNREFUSED|\.ts:|\/src\//i;

describe("when the database cannot be reached", () => {
  it("answers SERVICE_UNAVAILABLE with HTTP 503 and Retry-After, /readyz 503, /healthz 200, and no internals", async () => {
    const broken = await startServer();
    try {
      const user = await register(broken.url);
      await broken.app.orm.close(true);
      expect((await fetch(`${broken.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${broken.url}/healthz`)).status).toBe(200);
      for (const r of [
        await gql(broken.url, ME, {}, { token: user.accessToken }),
        await gql(broken.url, LOGIN, { email: user.email, password: user.password }),
        await gql(broken.url, REFRESH, { token: user.refreshToken }),
      ]) {
        expect(r.status).toBe(503);
        expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        expect(errorCode(r)).toBe("SERVICE_UNAVAILABLE");
        expect(r.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThanOrEqual(1);
        expect(r.text).not.toMatch(INTERNALS);
      }
      // Part of the operation ran (a field that needs no database): a GraphQL result, HTTP 200.
      const partial = await gql(broken.url, "query { __typename me { id } }", {}, { token: user.accessToken });
      expect(partial.status).toBe(200);
      expect(partial.headers.get("retry-after")).toBeNull();
      expect(partial.body.data).toBeNull();
      expect(errorCode(partial)).toBe("SERVICE_UNAVAILABLE");
    } finally {
      await broken.close().catch(() => undefined);
    }
  });

  it("still masks an unexpected database error as INTERNAL_SERVER_ERROR, HTTP 200, without internals", async () => {
    const broken = await startServer();
    try {
      const user = await register(broken.url);
      // A schema the code does not expect: a bug, not an outage.
      await broken.sql("drop table notes");
      const r = await gql(broken.url, "query { notes { edges { cursor } } }", {}, { token: user.accessToken });
      expect(r.status).toBe(200);
      expect(errorCode(r)).toBe("INTERNAL_SERVER_ERROR");
      expect(r.body.errors?.[0]?.message).toBe("Internal server error");
      expect(r.text).not.toMatch(INTERNALS);
      expect((await fetch(`${broken.url}/readyz`)).status).toBe(200);
    } finally {
      await broken.close();
    }
  });
});

const rawSockets = new Set<Socket>();

/** A raw TCP client: what it received and when the server closed it (ms after it connected). */
async function rawClient(url: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  rawSockets.add(socket);
  await once(socket, "connect");
  const opened = performance.now();
  let received = "";
  socket.on("data", (chunk) => {
    received += chunk;
  });
  socket.on("error", () => undefined);
  const closed = once(socket, "close").then(() => performance.now() - opened);
  return { socket, closed, received: () => received };
}

describe("HTTP timeouts (BEHAVIOUR.md §10)", () => {
  const REQUEST_MS = 600;
  const KEEP_ALIVE_MS = 400;
  /** Node checks its timers periodically (≤ 1/4 of the timeout here); generous for a loaded CI machine. */
  const SLACK_MS = 1_500;
  let timed: TestServer;
  beforeAll(async () => {
    timed = await startServer({}, undefined, undefined, {
      httpTimeouts: { requestMs: REQUEST_MS, keepAliveMs: KEEP_ALIVE_MS },
    });
  });
  afterAll(async () => {
    // Whatever a failed test left open must not hold the server's close.
    for (const socket of rawSockets) socket.destroy();
    await timed.close();
  });

  const body = JSON.stringify({ query: ME });
  const postHead = (length: number) =>
    `POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

  it("closes slow POSTs (headers, then the body stalls) with 408 within the timeout, 50 at once", async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => rawClient(timed.url)));
    for (const c of clients) c.socket.write(postHead(body.length) + body.slice(0, 10));
    for (const c of clients) {
      const ms = await c.closed;
      expect(ms).toBeGreaterThanOrEqual(REQUEST_MS * 0.9);
      expect(ms).toBeLessThan(REQUEST_MS + SLACK_MS);
      expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    }
    // The server still serves everyone else.
    expect((await fetch(`${timed.url}/healthz`)).status).toBe(200);
  });

  it("closes a body that keeps trickling in but is not complete within the timeout", async () => {
    const c = await rawClient(timed.url);
    c.socket.write(postHead(body.length));
    let sent = 0;
    const trickle = setInterval(() => {
      if (sent < body.length && !c.socket.destroyed) c.socket.write(body[sent++]!);
    }, 50);
    try {
      expect(await c.closed).toBeLessThan(REQUEST_MS + SLACK_MS);
      expect(sent).toBeLessThan(body.length);
      expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(trickle);
    }
  });

  it("closes connections whose headers never finish (slow-loris) or never start", async () => {
    const slowHeaders = await rawClient(timed.url);
    slowHeaders.socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n");
    const silent = await rawClient(timed.url);
    for (const c of [slowHeaders, silent]) {
      expect(await c.closed).toBeLessThan(REQUEST_MS + SLACK_MS);
      expect(c.received()).not.toMatch(/ 200 /);
    }
  });

  it("answers a complete request, then closes the idle keep-alive connection after a few seconds' worth", async () => {
    const c = await rawClient(timed.url);
    c.socket.write(postHead(body.length) + body);
    const ms = await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(c.received()).toMatch(/keep-alive/i);
    expect(ms).toBeGreaterThanOrEqual(KEEP_ALIVE_MS * 0.9);
    // Node keeps the socket 1 s past the advertised `Keep-Alive: timeout`, so the client closes first.
    expect(ms).toBeLessThan(KEEP_ALIVE_MS + 1_000 + SLACK_MS);
  });

  it("defaults to 30 s for headers and body and 5 s for idle keep-alive connections", () => {
    expect(server.app.server.requestTimeout).toBe(30_000);
    expect(server.app.server.headersTimeout).toBe(30_000);
    expect(server.app.server.keepAliveTimeout).toBe(5_000);
  });
});

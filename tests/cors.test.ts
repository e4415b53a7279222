import { getIntrospectionQuery } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APOLLO_STUDIO_ORIGIN, loadConfig } from "../src/config";
import { startServer, TEST_ENV, type TestServer } from "./helpers/server";

// BEHAVIOUR.md §10: allowed origins get credentials and any request header;
// others get no CORS headers; outside production, with CORS_ORIGINS unset,
// Apollo's hosted Sandbox works with no set-up.

const preflight = (server: TestServer, origin: string, headers: string) =>
  fetch(`${server.url}/graphql`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": headers },
  });

describe("an allowed origin", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ CORS_ORIGINS: "https://app.example.com" });
  });
  afterAll(() => server.close());

  it("may send any request header: Apollo Client's client awareness, tracing, request ids", async () => {
    const asked =
      "apollographql-client-name,apollographql-client-version,authorization,content-type,sentry-trace,baggage,traceparent,x-request-id";
    const r = await preflight(server, "https://app.example.com", asked);
    expect(r.status).toBe(204);
    expect(r.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(r.headers.get("access-control-allow-credentials")).toBe("true");
    const allowed = new Set(
      (r.headers.get("access-control-allow-headers") ?? "").split(",").map((h) => h.trim().toLowerCase()),
    );
    for (const header of asked.split(",")) expect(allowed).toContain(header);

    // And the request itself carries them through.
    const post = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: {
        origin: "https://app.example.com",
        "content-type": "application/json",
        "apollographql-client-name": "web",
        "x-request-id": "abc-123",
      },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(post.status).toBe(200);
    expect(post.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(await post.json()).toEqual({ data: { __typename: "Query" } });
  });

  it("does not let another origin in, whatever it asks", async () => {
    const r = await preflight(server, "https://evil.example", "content-type,x-request-id");
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    expect(r.headers.get("access-control-allow-headers")).toBeNull();
    expect(r.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("does not allow the hosted Sandbox once CORS_ORIGINS is set", async () => {
    const r = await preflight(server, APOLLO_STUDIO_ORIGIN, "content-type");
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("Apollo's hosted Sandbox against a development server (CORS_ORIGINS unset)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it("gets through its preflight and its introspection POST, exactly as Sandbox sends them", async () => {
    // What https://studio.apollographql.com sends before its first request.
    const r = await fetch(`${server.url}/graphql`, {
      method: "OPTIONS",
      headers: {
        origin: APOLLO_STUDIO_ORIGIN,
        referer: `${APOLLO_STUDIO_ORIGIN}/`,
        "access-control-request-method": "POST",
        "access-control-request-headers": "apollographql-client-name,apollographql-client-version,content-type",
      },
    });
    expect(r.status).toBe(204);
    expect(r.headers.get("access-control-allow-origin")).toBe(APOLLO_STUDIO_ORIGIN);

    const introspection = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: {
        origin: APOLLO_STUDIO_ORIGIN,
        "content-type": "application/json",
        "apollographql-client-name": "Apollo Studio",
        "apollographql-client-version": "1.0",
      },
      body: JSON.stringify({ query: getIntrospectionQuery(), operationName: "IntrospectionQuery" }),
    });
    expect(introspection.status).toBe(200);
    expect(introspection.headers.get("access-control-allow-origin")).toBe(APOLLO_STUDIO_ORIGIN);
    const body = (await introspection.json()) as { data?: { __schema?: unknown } };
    expect(body.data?.__schema).toBeDefined();
  });

  it("lets no other origin in", async () => {
    const r = await preflight(server, "https://app.example.com", "content-type");
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("is never allowed in production unless listed", () => {
    const production = { ...TEST_ENV, NODE_ENV: "production", ARGON2_MEMORY_KIB: "19456", ARGON2_TIME_COST: "2" };
    expect(loadConfig(production).config.corsOrigins).toEqual([]);
    expect(loadConfig({ ...TEST_ENV }).config.corsOrigins).toEqual([APOLLO_STUDIO_ORIGIN]);
  });
});

describe("the embedded Sandbox", () => {
  it.each([
    ["cookie", true],
    ["both", true],
    ["body", false],
  ] as const)("with REFRESH_TOKEN_TRANSPORT=%s sends cookies: %s", async (transport, cookies) => {
    const server = await startServer({ REFRESH_TOKEN_TRANSPORT: transport });
    try {
      const page = await (await fetch(`${server.url}/graphql`, { headers: { accept: "text/html" } })).text();
      expect(page).toMatch(/embeddable-sandbox|EmbeddedSandbox/);
      expect(page).toContain(`"includeCookies":${cookies}`);
    } finally {
      await server.close();
    }
  });
});

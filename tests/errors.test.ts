import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES, REQUEST_ERROR_CODES } from "../src/errors";
import { startServer, type TestServer } from "./helpers/server";

// BEHAVIOUR.md §3: one module enumerates every code; a code used but not
// documented in the README, or documented but never produced, fails here.

const ROOT = join(__dirname, "..");
const ALL_CODES = [...ERROR_CODES, ...REQUEST_ERROR_CODES];

/** The codes of the README's "Errors" table, in order. */
function documentedCodes(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### Errors"), readme.indexOf("\n## ", readme.indexOf("### Errors")));
  return [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1] as string);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe("the error catalogue (src/errors.ts)", () => {
  it("is exactly the README's table of codes, no more, no fewer", () => {
    expect([...documentedCodes()].sort()).toEqual([...ALL_CODES].sort());
  });

  it("has every code asserted by some test through the server", () => {
    const tests = filesUnder(join(ROOT, "tests"))
      .filter((f) => f.endsWith(".test.ts") && !f.endsWith("errors.test.ts"))
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const unasserted = ALL_CODES.filter((code) => !tests.includes(`"${code}"`));
    // The request-level codes are produced below, in this file.
    expect(unasserted.filter((code) => !(REQUEST_ERROR_CODES as readonly string[]).includes(code))).toEqual([]);
  });

  it("is the only place codes are made: no other module of src/ spells a code that is not in it", () => {
    const source = filesUnder(join(ROOT, "src"))
      .filter((f) => f.endsWith(".ts"))
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const spelled = new Set([...source.matchAll(/code: "([A-Z_]+)"/g)].map((m) => m[1] as string));
    for (const code of spelled) expect(ALL_CODES).toContain(code);
  });
});

describe("the request-level codes, produced", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  const post = async (body: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as { errors?: Array<{ extensions?: { code?: string } }> } };
  };
  const code = (r: { body: { errors?: Array<{ extensions?: { code?: string } }> } }) =>
    r.body.errors?.[0]?.extensions?.code;

  it("GRAPHQL_PARSE_FAILED for a document that is not GraphQL", async () => {
    const r = await post({ query: "{ me { id " });
    expect(r.status).toBe(400);
    expect(code(r)).toBe("GRAPHQL_PARSE_FAILED");
  });

  it("GRAPHQL_VALIDATION_FAILED for a field the schema does not have", async () => {
    const r = await post({ query: "{ nope }" });
    expect(r.status).toBe(400);
    expect(code(r)).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  it("BAD_REQUEST for a request without a query, and for a batch", async () => {
    const none = await post({ variables: {} });
    expect(none.status).toBe(400);
    expect(code(none)).toBe("BAD_REQUEST");
    const batch = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ query: "{ __typename }" }, { query: "{ __typename }" }]),
    });
    expect(batch.status).toBe(400);
  });

  it("PERSISTED_QUERY_NOT_FOUND for a persisted-query hash the server has not seen, then the query works", async () => {
    const query = "{ __typename }";
    const sha256Hash = createHash("sha256").update(query).digest("hex");
    const extensions = { persistedQuery: { version: 1, sha256Hash } };
    const unknown = await post({ extensions });
    expect(code(unknown)).toBe("PERSISTED_QUERY_NOT_FOUND");
    expect((await post({ query, extensions })).body).toEqual({ data: { __typename: "Query" } });
    expect((await post({ extensions })).body).toEqual({ data: { __typename: "Query" } });
  });
});

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildSchema, extendSchema, type GraphQLSchema, parse, validate } from "graphql";
import { describe, expect, it } from "vitest";
import { SCHEMA_FILE } from "../src/graphql/emit-schema";

// The example page's operations (examples/web/src/operations.ts) against the
// public contract the page is written for, without a browser or a server: a
// misspelt field or argument fails here, before any Chromium test runs.
const CONTRACT = join(__dirname, "..", "..", "shared", "contract");
const sdl = (file: string) => readFileSync(file, "utf8");
const core = buildSchema(sdl(join(CONTRACT, "schema.graphql")));
const withEmail = extendSchema(core, parse(sdl(join(CONTRACT, "email.graphql"))));

type Operations = typeof import("../examples/web/src/operations.js", { with: { "resolution-mode": "import" }});
// The example is an ES module package of its own: imported dynamically from this CommonJS test.
const load = (): Promise<Operations> => import("../examples/web/src/operations.js");

/** The documents a page built with or without mail sends, each with the fragment it uses. */
function documents(ops: Operations, mail: boolean): string[] {
  const all = (Object.values(ops) as unknown[]).filter((v): v is string => typeof v === "string");
  const needsFields = new Set<string>(ops.WITH_USER_FIELDS);
  const mailOnly = new Set<string>(ops.MAIL_OPERATIONS);
  return all
    .filter((op) => mail || !mailOnly.has(op))
    .map((op) => (needsFields.has(op) ? `${op}\n${ops.userFields(mail)}` : op));
}

function errorsAgainst(schema: GraphQLSchema, source: string): string[] {
  return validate(schema, parse(source)).map((e) => `${e.message}\n${source}`);
}

describe("the example page's GraphQL operations", () => {
  it("are all valid against the contract's core and its email capability", async () => {
    const ops = await load();
    const sources = documents(ops, true);
    expect(sources).toHaveLength(15);
    expect(sources.flatMap((s) => errorsAgainst(withEmail, s))).toEqual([]);
  });

  it("built with VITE_MAIL=off, use only the core: the contract's and this server's schema", async () => {
    const ops = await load();
    const sources = documents(ops, false);
    expect(sources).toHaveLength(6);
    const emitted = buildSchema(sdl(SCHEMA_FILE));
    expect(sources.flatMap((s) => [...errorsAgainst(core, s), ...errorsAgainst(emitted, s)])).toEqual([]);
  });
});

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
/** The mfa capability requires the email one (mfa.graphql's header). */
const withMfa = extendSchema(withEmail, parse(sdl(join(CONTRACT, "mfa.graphql"))));

type Operations = typeof import("../examples/web/src/operations.js", { with: { "resolution-mode": "import" }});
// The example is an ES module package of its own: imported dynamically from this CommonJS test.
const load = (): Promise<Operations> => import("../examples/web/src/operations.js");

/**
 * The documents a page built with or without mail sends, each with the
 * fragment it uses: with `mfa` false, only those outside the mfa capability
 * (the ones a server without it answers).
 */
function documents(ops: Operations, mail: boolean, mfa = true): string[] {
  const all = (Object.values(ops) as unknown[]).filter((v): v is string => typeof v === "string");
  const needsFields = new Set<string>(ops.WITH_USER_FIELDS);
  const mailOnly = new Set<string>(ops.MAIL_OPERATIONS);
  const mfaOnly = new Set<string>(ops.MFA_OPERATIONS);
  return all
    .filter((op) => (mail || !mailOnly.has(op)) && (mfa || !mfaOnly.has(op)))
    .map((op) => (needsFields.has(op) ? `${op}\n${ops.userFields(mail)}` : op));
}

function errorsAgainst(schema: GraphQLSchema, source: string): string[] {
  return validate(schema, parse(source)).map((e) => `${e.message}\n${source}`);
}

describe("the example page's GraphQL operations", () => {
  it("are all valid against the contract's core and its email and mfa capabilities", async () => {
    const ops = await load();
    const sources = documents(ops, true);
    expect(sources).toHaveLength(29);
    expect(sources.flatMap((s) => errorsAgainst(withMfa, s))).toEqual([]);
    // Everything but the second factors needs no more than core and email.
    const withoutMfa = documents(ops, true, false);
    expect(withoutMfa).toHaveLength(15);
    expect(withoutMfa.flatMap((s) => errorsAgainst(withEmail, s))).toEqual([]);
  });

  it("built with VITE_MAIL=off, use only the core (the contract's and this server's schema) besides the second factors", async () => {
    const ops = await load();
    const sources = documents(ops, false, false);
    expect(sources).toHaveLength(6);
    const emitted = buildSchema(sdl(SCHEMA_FILE));
    expect(sources.flatMap((s) => [...errorsAgainst(core, s), ...errorsAgainst(emitted, s)])).toEqual([]);
    // The second factors do not depend on mail being sent: the same page offers them.
    const mfa = documents(ops, false).filter((s) => !sources.includes(s));
    expect(mfa).toHaveLength(14);
    expect(mfa.flatMap((s) => errorsAgainst(withMfa, s))).toEqual([]);
  });
});

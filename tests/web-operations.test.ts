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
const oauth = parse(sdl(join(CONTRACT, "oauth.graphql")));
/** The oauth capability builds on the core alone (AuthPayload, DateTimeISO). */
const withOAuth = extendSchema(core, oauth);
const everything = extendSchema(withMfa, oauth);

type Operations = typeof import("../examples/web/src/operations.js", { with: { "resolution-mode": "import" }});
// The example is an ES module package of its own: imported dynamically from this CommonJS test.
const load = (): Promise<Operations> => import("../examples/web/src/operations.js");

/**
 * The documents a page built with or without mail sends, each with the
 * fragment it uses: with `mfa` or `oauth` false, only those outside that
 * capability (the ones a server without it answers).
 */
function documents(ops: Operations, mail: boolean, { mfa = true, oauth = true } = {}): string[] {
  const all = (Object.values(ops) as unknown[]).filter((v): v is string => typeof v === "string");
  const needsFields = new Set<string>(ops.WITH_USER_FIELDS);
  const mailOnly = new Set<string>(ops.MAIL_OPERATIONS);
  const mfaOnly = new Set<string>(ops.MFA_OPERATIONS);
  const oauthOnly = new Set<string>(ops.OAUTH_OPERATIONS);
  return all
    .filter((op) => (mail || !mailOnly.has(op)) && (mfa || !mfaOnly.has(op)) && (oauth || !oauthOnly.has(op)))
    .map((op) => (needsFields.has(op) ? `${op}\n${ops.userFields(mail)}` : op));
}

function errorsAgainst(schema: GraphQLSchema, source: string): string[] {
  return validate(schema, parse(source)).map((e) => `${e.message}\n${source}`);
}

describe("the example page's GraphQL operations", () => {
  it("are all valid against the contract's core and its email, mfa and oauth capabilities", async () => {
    const ops = await load();
    const sources = documents(ops, true);
    expect(sources).toHaveLength(35);
    expect(sources.flatMap((s) => errorsAgainst(everything, s))).toEqual([]);
    // Everything but the second factors and the identity providers needs no more than core and email.
    const coreAndEmail = documents(ops, true, { mfa: false, oauth: false });
    expect(coreAndEmail).toHaveLength(15);
    expect(coreAndEmail.flatMap((s) => errorsAgainst(withEmail, s))).toEqual([]);
    // The second factors need no identity provider, and the other way round.
    const withoutOAuth = documents(ops, true, { oauth: false });
    expect(withoutOAuth).toHaveLength(29);
    expect(withoutOAuth.flatMap((s) => errorsAgainst(withMfa, s))).toEqual([]);
  });

  it("built with VITE_MAIL=off, use only the core (the contract's and this server's schema) besides the second factors and identity providers", async () => {
    const ops = await load();
    const sources = documents(ops, false, { mfa: false, oauth: false });
    expect(sources).toHaveLength(6);
    const emitted = buildSchema(sdl(SCHEMA_FILE));
    expect(sources.flatMap((s) => [...errorsAgainst(core, s), ...errorsAgainst(emitted, s)])).toEqual([]);
    // The second factors do not depend on mail being sent: the same page offers them.
    const mfa = documents(ops, false, { oauth: false }).filter((s) => !sources.includes(s));
    expect(mfa).toHaveLength(14);
    expect(mfa.flatMap((s) => errorsAgainst(withMfa, s))).toEqual([]);
    // Nor do the identity providers, which need the core alone.
    const providers = documents(ops, false, { mfa: false }).filter((s) => !sources.includes(s));
    expect(providers).toHaveLength(6);
    expect(providers.flatMap((s) => errorsAgainst(withOAuth, s))).toEqual([]);
  });
});

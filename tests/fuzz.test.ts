import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gql, LOGIN, LOGOUT, ME, me, REFRESH, REGISTER, register, type Tokens } from "./helpers/graphql";
import { forge } from "./helpers/jwt";
import { startServer, TEST_JWT_SECRET, type TestServer } from "./helpers/server";

let server: TestServer;
let residents: Array<Tokens & { email: string; password: string }>;

beforeAll(async () => {
  server = await startServer();
  residents = [];
  for (let i = 0; i < 3; i++) residents.push(await register(server.url));
});
afterAll(() => server.close());

const OPERATIONS = [
  REGISTER,
  LOGIN,
  REFRESH,
  LOGOUT,
  ME,
  "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }",
  "mutation($input: NoteInput!) { createNote(input: $input) { id } }",
  "mutation($id: ID!, $patch: NotePatch!) { updateNote(id: $id, patch: $patch) { id } }",
  "query($first: Int, $after: String) { notes(first: $first, after: $after) { totalCount } }",
  "query($first: Int, $after: String) { users(first: $first, after: $after) { totalCount } }",
  "mutation($userId: ID!, $roles: [Role!]!) { setUserRoles(userId: $userId, roles: $roles) { id } }",
  "mutation($id: ID!) { revokeSession(id: $id) }",
  "mutation { logoutAll }",
  "{ sessions { id } }",
];

const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme", maxLength: 300 }),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.constantFrom(
    "",
    "\u0000",
    "a\u0000b",
    "\r\n",
    "__proto__",
    "constructor",
    "'; drop table users; --",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal log-injection probe, not a template
    "${jndi:x}",
    "＠",
    "\u202e",
  ),
  fc.integer({ min: 1_000, max: 70_000 }).map((n) => "x".repeat(n)),
  fc.constant("😀".repeat(5_000)),
);

/** Variables: the real names with hostile values, or arbitrary JSON. */
const variables = fc.oneof(
  fc.record({
    email: hostileString,
    password: hostileString,
    token: fc.oneof(hostileString, fc.constant(null)),
    input: fc.oneof(fc.record({ email: hostileString, password: hostileString }), fc.jsonValue({ maxDepth: 4 })),
    id: hostileString,
    first: fc.oneof(fc.integer(), fc.double(), fc.constant(null)),
    after: fc.oneof(hostileString, fc.constant(null)),
    roles: fc.array(fc.oneof(fc.constantFrom("USER", "ADMIN"), hostileString), { maxLength: 5 }),
  }),
  fc.jsonValue({ maxDepth: 6 }),
  fc.array(fc.array(fc.array(fc.integer()))),
);

const document = fc.oneof(
  fc.constantFrom(...OPERATIONS),
  // A real operation with a few characters changed.
  fc
    .tuple(fc.constantFrom(...OPERATIONS), fc.nat(), hostileString)
    .map(([op, at, junk]) => op.slice(0, at % op.length) + junk + op.slice(at % op.length)),
  hostileString,
  fc.integer({ min: 1, max: 3_000 }).map((n) => `${"{ me ".repeat(n)}${"}".repeat(n)}`),
  fc
    .integer({ min: 1, max: 200 })
    .map((n) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: me { id }`).join(" ")} }`),
);

// HTTP clients refuse control characters in header values, so hostile headers keep to what HTTP allows.
const headerSafe = (s: string) => s.replace(/[^\t\x20-\x7e]/g, "").slice(0, 8_000);

const authorization = fc.oneof(
  fc.constant(undefined),
  hostileString.map((s) => `Bearer ${headerSafe(s)}`),
  fc
    .record({
      alg: fc.constantFrom("none", "HS256", "HS512", "RS256", "nOnE"),
      typ: fc.constantFrom("at+jwt", "JWT", undefined),
    })
    .chain((header) =>
      fc
        .record({ sub: hostileString, sid: hostileString, exp: fc.integer(), iss: hostileString, aud: hostileString })
        .map(
          (claims) => `Bearer ${forge(header, claims, header.alg.toLowerCase() === "none" ? null : TEST_JWT_SECRET)}`,
        ),
    ),
);

/** The whole HTTP request: usually GraphQL JSON, sometimes a malformed body or another content type. */
const request = fc.record({
  body: fc.oneof(
    { weight: 6, arbitrary: fc.record({ query: document, variables }).map((b) => JSON.stringify(b)) },
    {
      weight: 1,
      arbitrary: fc.record({ query: fc.jsonValue(), variables: fc.jsonValue() }).map((b) => JSON.stringify(b)),
    },
    { weight: 1, arbitrary: hostileString },
    {
      weight: 1,
      arbitrary: fc
        .array(fc.record({ query: fc.constantFrom(...OPERATIONS) }), { maxLength: 5 })
        .map((b) => JSON.stringify(b)),
    },
  ),
  contentType: fc.constantFrom(
    "application/json",
    "application/json",
    "application/json",
    "text/plain",
    "application/graphql",
    "multipart/form-data",
  ),
  authorization,
  method: fc.constantFrom("POST", "POST", "POST", "GET"),
});

describe("fuzzing the GraphQL endpoint", () => {
  it("answers 1,200 random and hostile requests without a 5xx, and loses nothing", async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const headers: Record<string, string> = { "content-type": req.contentType, "apollo-require-preflight": "true" };
        if (req.authorization !== undefined) headers.authorization = req.authorization;
        const response =
          req.method === "GET"
            ? await fetch(
                `${server.url}/graphql?query=${encodeURIComponent(req.body.slice(0, 4_000).toWellFormed())}`,
                { headers },
              )
            : await fetch(`${server.url}/graphql`, { method: "POST", headers, body: req.body });
        const text = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        expect(response.status).toBeLessThan(500);
        expect(text).not.toMatch(/"stacktrace"|MikroORM|SQLITE_|at .*\.(ts|js):\d+/);
        if (text.length > 0) expect(() => JSON.parse(text)).not.toThrow();
      }),
      { numRuns: 1_200 },
    );
    expect([...statuses.keys()].every((status) => status < 500)).toBe(true);

    // Still serving, and everyone registered before the storm still signs in, with tokens intact.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    for (const resident of residents) {
      expect((await me(server.url, resident.accessToken)).body.data?.me.id).toBe(resident.user.id);
      const rotated = await gql(server.url, REFRESH, { token: resident.refreshToken });
      expect(rotated.body.data?.refreshToken.user.id).toBe(resident.user.id);
      const login = await gql(server.url, LOGIN, { email: resident.email, password: resident.password });
      expect(login.body.data?.login.user.id).toBe(resident.user.id);
    }
    const [{ n }] = await server.sql<{ n: number }>(
      "select count(*) as n from users where email in (?, ?, ?)",
      residents.map((r) => r.email),
    );
    expect(Number(n)).toBe(3);
  }, 180_000);
});

describe("fuzzing string arguments with NUL and unpaired surrogates", () => {
  /** [operation, variables holding `s`, the field BAD_USER_INPUT must name]. */
  const TARGETS: Array<[string, (s: string) => Record<string, unknown>, string]> = [
    [REGISTER, (s) => ({ email: "fuzz@example.com", password: s }), "password"],
    [REGISTER, (s) => ({ email: s, password: "correct horse battery staple" }), "email"],
    [LOGIN, (s) => ({ email: residents[0]?.email, password: s }), "password"],
    [REFRESH, (s) => ({ token: s }), "refreshToken"],
    [
      "mutation($input: NoteInput!) { createNote(input: $input) { id } }",
      (s) => ({ input: { title: s, body: "" } }),
      "title",
    ],
    [
      "mutation($input: NoteInput!) { createNote(input: $input) { id } }",
      (s) => ({ input: { title: "t", body: s } }),
      "body",
    ],
    [
      "mutation($id: ID!, $patch: NotePatch!) { updateNote(id: $id, patch: $patch) { id } }",
      (s) => ({ id: s, patch: {} }),
      "id",
    ],
    ["query($after: String) { notes(after: $after) { totalCount } }", (s) => ({ after: s }), "after"],
  ];
  const malformed = fc
    .tuple(
      fc.string({ maxLength: 40 }),
      fc.constantFrom("\u0000", "\uD800", "\uDBFF", "\uDC00", "\uDFFF", "\uDC00\uD800"),
      fc.string({ unit: "grapheme", maxLength: 40 }),
    )
    .map(([before, bad, after]) => before + bad + after);

  it("refuses each one with BAD_USER_INPUT naming its field, before anything runs, however it is placed", async () => {
    const users = await server.sql<{ n: number }>("select count(*) as n from users");
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...TARGETS), malformed, async ([query, variablesOf, field], s) => {
        const r = await gql(server.url, query, variablesOf(s), { token: residents[1]?.accessToken });
        expect(r.status).toBe(400);
        expect(r.body.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT", field });
      }),
      { numRuns: 300 },
    );
    expect(await server.sql<{ n: number }>("select count(*) as n from users")).toEqual(users);
  });
});

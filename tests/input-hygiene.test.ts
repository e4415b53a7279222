import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  errorCode,
  type GraphQLResponse,
  gql,
  LOGIN,
  LOGOUT,
  newCredentials,
  REFRESH,
  REGISTER,
  register,
  type Tokens,
} from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";

let server: TestServer;
let user: Tokens & { email: string; password: string };
beforeAll(async () => {
  server = await startServer();
  user = await register(server.url);
});
afterAll(() => server.close());

const NOTE = "id title body";
const CREATE = `mutation($input: NoteInput!) { createNote(input: $input) { ${NOTE} } }`;
const UPDATE = `mutation($id: ID!, $patch: NotePatch!) { updateNote(id: $id, patch: $patch) { ${NOTE} } }`;
const GET = `query($id: ID!) { note(id: $id) { ${NOTE} } }`;
const LIST = `query($first: Int, $after: String) { notes(first: $first, after: $after) { edges { node { ${NOTE} } } } }`;
const CHANGE_PASSWORD = "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }";

const NUL = "\u0000";
const LONE_HIGH = "\uD800";
const LONE_LOW = "\uDC00";

/** BAD_USER_INPUT naming `field`, refused before execution (400), the value nowhere in the answer. */
function expectRefused(r: GraphQLResponse, field: string) {
  expect(r.body.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT", field });
  expect(r.status).toBe(400);
  expect(r.body.data).toBeUndefined();
}

const count = async (table: string) =>
  Number((await server.sql<{ n: number }>(`select count(*) as n from ${table}`))[0]?.n);

describe("strings with NUL or an unpaired surrogate: BAD_USER_INPUT with the field, never a 500, never rewritten", () => {
  it("refuses them in a note's title and body, as variables or literals, and stores nothing", async () => {
    const t = user.accessToken;
    const notes = await count("notes");
    for (const [input, field] of [
      [{ title: `a${NUL}b`, body: "" }, "title"],
      [{ title: `a${LONE_HIGH}`, body: "" }, "title"],
      [{ title: `${LONE_LOW}a`, body: "" }, "title"],
      [{ title: "fine", body: `x${NUL}` }, "body"],
      [{ title: "fine", body: `${"😀".repeat(3)}${LONE_HIGH}${"😀".repeat(3)}` }, "body"],
    ] as const) {
      expectRefused(await gql(server.url, CREATE, { input }, { token: t }), field);
    }
    // A literal in the document: the GraphQL escape \u0000 is a NUL too.
    expectRefused(
      await gql(
        server.url,
        'mutation { createNote(input: { title: "a\\u0000b", body: "" }) { id } }',
        {},
        { token: t },
      ),
      "title",
    );
    expect(await count("notes")).toBe(notes);

    const note = (await gql(server.url, CREATE, { input: { title: "kept", body: "kept" } }, { token: t })).body.data
      ?.createNote;
    expectRefused(await gql(server.url, UPDATE, { id: note.id, patch: { title: `x${NUL}` } }, { token: t }), "title");
    expectRefused(await gql(server.url, UPDATE, { id: note.id, patch: { body: LONE_LOW } }, { token: t }), "body");
    expect((await gql(server.url, GET, { id: note.id }, { token: t })).body.data?.note).toMatchObject({
      title: "kept",
      body: "kept",
    });
  });

  it("refuses a password with an unpaired surrogate at register, so two such passwords are never one", async () => {
    const base = newCredentials();
    const users = await count("users");
    // Both would become "…\uFFFD" in UTF-8 (argon2's input): the same password.
    expectRefused(await gql(server.url, REGISTER, { ...base, password: `${base.password}${LONE_HIGH}` }), "password");
    expectRefused(await gql(server.url, REGISTER, { ...base, password: `${base.password}${LONE_LOW}` }), "password");
    expect(await count("users")).toBe(users);
  });

  it("refuses it at login too: a lone surrogate never signs in as the account whose password has U+FFFD there", async () => {
    const account = await register(server.url, { ...newCredentials(), password: "correct horse battery \uFFFD" });
    for (const lone of [LONE_HIGH, LONE_LOW]) {
      const r = await gql(server.url, LOGIN, { email: account.email, password: `correct horse battery ${lone}` });
      expectRefused(r, "password");
      expect(r.text).not.toContain("accessToken");
    }
    const exact = await gql(server.url, LOGIN, { email: account.email, password: account.password });
    expect(exact.body.data?.login.user.id).toBe(account.user.id);
  });

  it("refuses NUL in an email, and both in changePassword's fields", async () => {
    const { email, password } = newCredentials();
    expectRefused(await gql(server.url, REGISTER, { email: `${email}${NUL}`, password }), "email");
    expectRefused(await gql(server.url, LOGIN, { email: `${NUL}${user.email}`, password: user.password }), "email");
    const fresh = await register(server.url);
    const token = fresh.accessToken;
    expectRefused(
      await gql(server.url, CHANGE_PASSWORD, { input: { currentPassword: `${NUL}`, newPassword: "x" } }, { token }),
      "currentPassword",
    );
    expectRefused(
      await gql(
        server.url,
        CHANGE_PASSWORD,
        { input: { currentPassword: fresh.password, newPassword: `a new and long password ${LONE_HIGH}` } },
        { token },
      ),
      "newPassword",
    );
    // The old password still works: nothing changed.
    expect(errorCode(await gql(server.url, LOGIN, { email: fresh.email, password: fresh.password }))).toBeUndefined();
  });

  it("refuses them in every other string argument: tokens, ids and cursors", async () => {
    const token = user.accessToken;
    expectRefused(await gql(server.url, REFRESH, { token: `${user.refreshToken}${NUL}` }), "refreshToken");
    expectRefused(await gql(server.url, LOGOUT, { token: LONE_HIGH }), "refreshToken");
    expectRefused(await gql(server.url, GET, { id: `${NUL}` }, { token }), "id");
    expectRefused(
      await gql(server.url, "mutation($id: ID!) { revokeSession(id: $id) }", { id: LONE_LOW }, { token }),
      "id",
    );
    expectRefused(await gql(server.url, LIST, { after: `abc${NUL}` }, { token }), "after");
    expectRefused(
      await gql(
        server.url,
        "mutation($id: ID!) { setUserRoles(userId: $id, roles: [USER]) { id } }",
        { id: NUL },
        { token },
      ),
      "userId",
    );
  });

  it("accepts every other character, surrogate pairs and control characters included, and returns them exactly", async () => {
    const title = `\u0001 tab\there 😀 \u202e ${"\uD83D\uDE00"}`;
    const body = "line\r\nbreak \u007f \uFFFD \uFEFF end";
    const r = await gql(server.url, CREATE, { input: { title, body } }, { token: user.accessToken });
    expect(r.body.data?.createNote).toMatchObject({ title, body });
    const read = await gql(server.url, GET, { id: r.body.data?.createNote.id }, { token: user.accessToken });
    expect(read.body.data?.note).toMatchObject({ title, body });
  });
});

describe("note titles are stored exactly as sent", () => {
  it("keeps leading and trailing spaces, and a title of spaces is a title (1–200 characters)", async () => {
    const t = user.accessToken;
    for (const title of ["  padded  ", " ", "   ", "\tindented", "trailing\n"]) {
      const created = await gql(server.url, CREATE, { input: { title, body: "" } }, { token: t });
      expect(created.body.data?.createNote.title).toBe(title);
      const read = await gql(server.url, GET, { id: created.body.data?.createNote.id }, { token: t });
      expect(read.body.data?.note.title).toBe(title);
    }
    const note = (await gql(server.url, CREATE, { input: { title: "x", body: "" } }, { token: t })).body.data
      ?.createNote;
    const updated = await gql(server.url, UPDATE, { id: note.id, patch: { title: "  both ends  " } }, { token: t });
    expect(updated.body.data?.updateNote.title).toBe("  both ends  ");
    expect((await gql(server.url, GET, { id: note.id }, { token: t })).body.data?.note.title).toBe("  both ends  ");
    // Empty is still refused, and 201 characters of spaces too.
    for (const title of ["", " ".repeat(201)]) {
      const r = await gql(server.url, CREATE, { input: { title, body: "" } }, { token: t });
      expect(r.body.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT", field: "title" });
    }
  });
});

describe("cursors", () => {
  const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

  it("refuses a crafted or malformed `after` with BAD_USER_INPUT on field after, never a 500", async () => {
    const token = user.accessToken;
    const admin = await register(server.url);
    await server.sql("update users set roles = ? where id = ?", ['["USER","ADMIN"]', admin.user.id]);
    const id = "00000000-0000-4000-8000-000000000000";
    const crafted = [
      cursor([1e300, "x"]),
      cursor([1e300, id]),
      cursor([8.64e15, id]), // the largest Date, year 275760
      cursor([-1, id]), // before any createdAt
      cursor([-8.64e15, id]), // before what PostgreSQL's timestamptz holds
      cursor([1.5, id]),
      cursor([Number.MAX_SAFE_INTEGER, id]),
      cursor(["2026-01-01", id]),
      cursor([0, "not-a-uuid"]),
      cursor([0, `${id}' or 1=1 --`]),
      cursor([0, id, "extra"]),
      cursor([0]),
      cursor({ 0: 0, 1: id }),
      cursor(null),
      Buffer.from("[0,").toString("base64url"),
      "%%%",
      "x".repeat(10_000),
    ];
    for (const after of crafted) {
      for (const [query, auth] of [
        [LIST, token],
        ["query($after: String) { users(after: $after) { totalCount } }", admin.accessToken],
      ] as const) {
        const r = await gql(server.url, query, { after }, { token: auth });
        expect(r.body.errors?.[0]?.extensions, after).toEqual({ code: "BAD_USER_INPUT", field: "after" });
        expect(r.status).toBe(200);
      }
    }
    // A cursor shaped like the server's still works, at the edges of the range too (1970 to year 9999).
    for (const time of [0, Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.now()]) {
      const r = await gql(server.url, LIST, { after: cursor([time, id]) }, { token });
      expect(r.body.errors).toBeUndefined();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorCode, type GraphQLResponse, gql, register } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const NOTE = "id title body createdAt updatedAt owner { id email }";
const CREATE = `mutation($input: NoteInput!) { createNote(input: $input) { ${NOTE} } }`;
const UPDATE = `mutation($id: ID!, $patch: NotePatch!) { updateNote(id: $id, patch: $patch) { ${NOTE} } }`;
const DELETE = "mutation($id: ID!) { deleteNote(id: $id) }";
const GET = `query($id: ID!) { note(id: $id) { ${NOTE} } }`;
const LIST = `query($first: Int, $after: String) {
  notes(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${NOTE} } } }
}`;

async function createNote(token: string, title: string, body = "") {
  const r = await gql(server.url, CREATE, { input: { title, body } }, { token });
  if (!r.body.data?.createNote) throw new Error(r.text);
  return r.body.data.createNote as { id: string; title: string; body: string; createdAt: string; updatedAt: string };
}

describe("notes", () => {
  it("creates, reads, partially updates and deletes the owner's notes", async () => {
    const user = await register(server.url);
    const note = await createNote(user.accessToken, "  Groceries ", "milk");
    expect(note).toMatchObject({ title: "  Groceries ", body: "milk" }); // exactly as sent: not trimmed
    expect((await gql(server.url, GET, { id: note.id }, { token: user.accessToken })).body.data?.note).toMatchObject({
      id: note.id,
      owner: { id: user.user.id, email: user.email },
    });

    const titled = await gql(
      server.url,
      UPDATE,
      { id: note.id, patch: { title: "Shopping" } },
      { token: user.accessToken },
    );
    expect(titled.body.data?.updateNote).toMatchObject({ title: "Shopping", body: "milk" });
    expect(new Date(titled.body.data?.updateNote.updatedAt).getTime()).toBeGreaterThanOrEqual(
      new Date(note.updatedAt).getTime(),
    );
    const bodied = await gql(
      server.url,
      UPDATE,
      { id: note.id, patch: { body: "milk, eggs", title: null } },
      { token: user.accessToken },
    );
    expect(bodied.body.data?.updateNote).toMatchObject({ title: "Shopping", body: "milk, eggs" });

    expect((await gql(server.url, DELETE, { id: note.id }, { token: user.accessToken })).body).toEqual({
      data: { deleteNote: true },
    });
    expect((await gql(server.url, GET, { id: note.id }, { token: user.accessToken })).body.data?.note).toBeNull();
    expect(errorCode(await gql(server.url, DELETE, { id: note.id }, { token: user.accessToken }))).toBe("NOT_FOUND");
  });

  it("treats another user's note exactly like a missing one, for every operation", async () => {
    const owner = await register(server.url);
    const intruder = await register(server.url);
    const note = await createNote(owner.accessToken, "Private", "secret body");
    const missing = "00000000-0000-4000-8000-000000000000";

    for (const id of [note.id, missing, "not-a-uuid"]) {
      const get = await gql(server.url, GET, { id }, { token: intruder.accessToken });
      expect(get.body).toEqual({ data: { note: null } });
      const update = await gql(server.url, UPDATE, { id, patch: { title: "pwned" } }, { token: intruder.accessToken });
      expect(update.body.errors?.[0]?.extensions).toEqual({ code: "NOT_FOUND" });
      const del = await gql(server.url, DELETE, { id }, { token: intruder.accessToken });
      expect(del.body.errors?.[0]?.extensions).toEqual({ code: "NOT_FOUND" });
      expect(update.body.errors?.[0]?.message).toBe(del.body.errors?.[0]?.message);
    }
    const list = await gql(server.url, LIST, {}, { token: intruder.accessToken });
    expect(list.body.data?.notes).toMatchObject({ totalCount: 0, edges: [] });
    expect(list.text).not.toContain("secret body");
    // The owner's note is untouched.
    expect((await gql(server.url, GET, { id: note.id }, { token: owner.accessToken })).body.data?.note).toMatchObject({
      title: "Private",
      body: "secret body",
    });
  });

  it("needs a signed-in user", async () => {
    expect((await gql(server.url, LIST)).body.errors?.[0]?.extensions).toEqual({
      code: "UNAUTHENTICATED",
      reason: "MISSING",
    });
    expect(errorCode(await gql(server.url, CREATE, { input: { title: "x", body: "" } }))).toBe("UNAUTHENTICATED");
  });

  it("enforces title 1–200 and body ≤ 10,000 characters (code points)", async () => {
    const user = await register(server.url);
    const t = user.accessToken;
    expect(await createNote(t, "😀".repeat(200), "😀".repeat(10_000))).toBeTruthy();
    for (const [input, field] of [
      [{ title: "", body: "" }, "title"],
      [{ title: "x".repeat(201), body: "" }, "title"],
      [{ title: "ok", body: "x".repeat(10_001) }, "body"],
    ] as const) {
      const r = await gql(server.url, CREATE, { input }, { token: t });
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
    }
    const note = await createNote(t, "fine");
    const r = await gql(server.url, UPDATE, { id: note.id, patch: { title: "" } }, { token: t });
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "title" });
  });
});

describe("notes pagination", () => {
  it("walks every page newest first with no duplicates or gaps while notes are being added", async () => {
    const user = await register(server.url);
    const t = user.accessToken;
    const before: string[] = [];
    for (let i = 0; i < 12; i++) before.push((await createNote(t, `note ${i}`)).id);

    const seen: string[] = [];
    const addedDuring: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const r: GraphQLResponse = await gql(server.url, LIST, { first: 5, after }, { token: t });
      const conn = r.body.data!.notes;
      seen.push(...conn.edges.map((e: { node: { id: string } }) => e.node.id));
      pages++;
      // A writer adds a note between every two page reads.
      addedDuring.push((await createNote(t, `added after page ${pages}`)).id);
      if (!conn.pageInfo.hasNextPage) break;
      expect(conn.pageInfo.endCursor).toBe(conn.edges.at(-1).cursor);
      after = conn.pageInfo.endCursor;
    }
    // Every note that existed at the start, newest first, exactly once; new ones appear at the top, not mid-walk.
    expect(seen).toEqual([...before].reverse());
    expect(pages).toBe(3);
    const total = await gql(server.url, LIST, { first: 0 }, { token: t });
    expect(total.body.data?.notes).toMatchObject({ totalCount: 12 + addedDuring.length, edges: [] });
  });

  it("caps first at 100 and refuses a forged cursor", async () => {
    const user = await register(server.url);
    for (const first of [101, -5]) {
      const r = await gql(server.url, LIST, { first }, { token: user.accessToken });
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "first" });
    }
    const r = await gql(server.url, LIST, { after: "%%%" }, { token: user.accessToken });
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "after" });
  });

  it("resolves owner for a whole page without one query per note", async () => {
    const user = await register(server.url);
    for (let i = 0; i < 30; i++) await createNote(user.accessToken, `n${i}`);
    const queriesFor = async (first: number) => {
      const start = server.queries.length;
      const r = await gql(server.url, LIST, { first }, { token: user.accessToken });
      expect(r.body.data?.notes.edges).toHaveLength(first);
      expect(
        r.body.data?.notes.edges.every((e: { node: { owner: { id: string } } }) => e.node.owner.id === user.user.id),
      ).toBe(true);
      return server.queries.length - start;
    };
    const small = await queriesFor(2);
    const large = await queriesFor(30);
    expect(small).toBeGreaterThan(0); // the counter sees queries at all
    expect(large).toBe(small);
  });
});

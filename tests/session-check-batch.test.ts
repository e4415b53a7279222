import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gql, LOGOUT, me, register, type Tokens } from "./helpers/graphql";
import { decodePart, forge } from "./helpers/jwt";
import { startServer, TEST_JWT_SECRET, type TestServer } from "./helpers/server";

/**
 * The session checks that arrive together are answered together (SQLite: one
 * read after another on the read connection; PostgreSQL: one query for all):
 * each request must still get its own answer, whatever else is in its batch.
 */
let server: TestServer;
let users: Tokens[];
beforeAll(async () => {
  server = await startServer();
  users = await Promise.all(Array.from({ length: 6 }, () => register(server.url)));
});
afterAll(() => server.close());

const header = { alg: "HS256", typ: "at+jwt" };
const now = () => Math.floor(server.clock.now().getTime() / 1000);

describe("session checks answered together", () => {
  it("give each request of a burst its own answer: live, ended, another user's, unknown or malformed session", async () => {
    const [live1, live2, ended, owner, other, unknown] = users as [Tokens, Tokens, Tokens, Tokens, Tokens, Tokens];
    expect((await gql(server.url, LOGOUT, { token: ended.refreshToken })).body.errors).toBeUndefined();
    const claims = (t: Tokens) => decodePart(t.accessToken, 1);
    const signed = (change: Record<string, unknown>) =>
      forge(header, { ...claims(unknown), iat: now(), exp: now() + 300, jti: "burst", ...change }, TEST_JWT_SECRET);
    const cases: Array<[string, string, string | null]> = [
      ["live", live1.accessToken, live1.user.id],
      ["another live", live2.accessToken, live2.user.id],
      ["ended by logout", ended.accessToken, null],
      // The owner's session id with another user's id: REVOKED, not the owner's data.
      ["another user's session", signed({ sub: other.user.id, sid: claims(owner).sid }), null],
      ["no such session", signed({ sid: "00000000-0000-4000-8000-000000000000" }), null],
      ["not a UUID", signed({ sid: "not-a-session-id" }), null],
      ["the owner, in the same burst", owner.accessToken, owner.user.id],
    ];
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all(cases.map(([, token]) => me(server.url, token)));
      answers.forEach((r, i) => {
        const [name, , id] = cases[i] as [string, string, string | null];
        if (id === null) {
          expect(r.body.errors?.[0]?.extensions, name).toEqual({ code: "UNAUTHENTICATED", reason: "REVOKED" });
          expect(r.body.data?.me ?? null, name).toBeNull();
        } else {
          expect(r.body.errors, name).toBeUndefined();
          expect(r.body.data?.me.id, name).toBe(id);
        }
      });
    }
  });
});

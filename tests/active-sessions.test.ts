import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorCode, gql, LOGIN, LOGOUT, me, PAYLOAD, refresh, register, type Tokens } from "./helpers/graphql";
import { decodePart } from "./helpers/jwt";
import { startServer, type TestServer } from "./helpers/server";

// BEHAVIOUR.md §5: "active" has one definition — not ended and before its
// absolute end — in the per-request check, refresh, `sessions`, logoutAll and
// changePassword. Idle expiry stops only the refresh token.

const sid = (t: Tokens) => decodePart(t.accessToken, 1).sid as string;
const SESSIONS = "{ sessions { id current } }";
const CHANGE = `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ${PAYLOAD} } }`;

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ ACCESS_TOKEN_TTL: "60", REFRESH_TOKEN_TTL: "100", SESSION_MAX_AGE: "300" });
});
afterAll(() => server.close());

async function login(user: { email: string; password: string }): Promise<Tokens> {
  const r = await gql<{ login: Tokens }>(server.url, LOGIN, user);
  if (!r.body.data?.login) throw new Error(r.text);
  return r.body.data.login;
}

async function rotate(tokens: Tokens): Promise<Tokens> {
  const r = await refresh(server.url, tokens.refreshToken);
  if (!r.body.data?.refreshToken) throw new Error(r.text);
  return r.body.data.refreshToken;
}

/**
 * One user with four sessions at t = 310 s:
 * - `old`: refreshed every 90 s, its last access token still valid, but past its absolute end (300 s);
 * - `idle`: signed in at 150 s and never refreshed: idle since 250 s, absolute end at 450 s;
 * - `ended`: signed in and signed out;
 * - `observer`: signed in at 280 s.
 */
async function fourSessions() {
  const user = await register(server.url);
  let old: Tokens = user;
  server.clock.advance(90);
  old = await rotate(old);
  server.clock.advance(60);
  const idle = await login(user);
  const ended = await login(user);
  await gql(server.url, LOGOUT, { token: ended.refreshToken });
  server.clock.advance(30);
  old = await rotate(old);
  server.clock.advance(90);
  old = await rotate(old); // t = 270 s: this access token lives until 330 s
  server.clock.advance(10);
  const observer = await login(user);
  server.clock.advance(30); // t = 310 s
  return { user, old, idle, ended, observer };
}

describe("one definition of an active session", () => {
  it("the per-request check refuses a session past its absolute end even with a valid access token", async () => {
    const { old, observer } = await fourSessions();
    expect((await me(server.url, old.accessToken)).body.errors?.[0]?.extensions).toEqual({
      code: "UNAUTHENTICATED",
      reason: "REVOKED",
    });
    expect((await me(server.url, observer.accessToken)).body.errors).toBeUndefined();
  });

  it("refresh refuses the absolutely expired, the idle and the ended session alike", async () => {
    const { old, idle, ended, observer } = await fourSessions();
    for (const tokens of [old, idle, ended]) {
      expect(errorCode(await refresh(server.url, tokens.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
    }
    expect((await refresh(server.url, observer.refreshToken)).body.errors).toBeUndefined();
  });

  it("`sessions` lists the idle session, not the absolutely expired or the ended one", async () => {
    const { idle, observer } = await fourSessions();
    const r = await gql(server.url, SESSIONS, {}, { token: observer.accessToken });
    expect(r.body.data?.sessions).toEqual([
      { id: sid(observer), current: true },
      { id: sid(idle), current: false },
    ]);
  });

  it("logoutAll ends exactly the sessions `sessions` listed, and says so", async () => {
    const { old, idle, observer } = await fourSessions();
    const r = await gql(server.url, "mutation { logoutAll }", {}, { token: observer.accessToken });
    expect(r.body).toEqual({ data: { logoutAll: 2 } });
    const [row] = await server.sql<{ end_reason: string | null }>("select end_reason from sessions where id = ?", [
      sid(idle),
    ]);
    expect(row?.end_reason).toBe("LOGOUT_ALL");
    const [expired] = await server.sql<{ end_reason: string | null }>("select end_reason from sessions where id = ?", [
      sid(old),
    ]);
    expect(expired?.end_reason).toBeNull(); // it had ended by itself already
    expect((await me(server.url, observer.accessToken)).body.errors?.[0]?.extensions?.reason).toBe("REVOKED");
    expect(errorCode(await refresh(server.url, idle.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
  });

  it("changePassword ends the other active sessions, idle included, and keeps the current one", async () => {
    const { user, idle, observer } = await fourSessions();
    const r = await gql<{ changePassword: Tokens }>(
      server.url,
      CHANGE,
      { input: { currentPassword: user.password, newPassword: "a different long passphrase" } },
      { token: observer.accessToken },
    );
    expect(r.body.errors).toBeUndefined();
    const [row] = await server.sql<{ end_reason: string | null }>("select end_reason from sessions where id = ?", [
      sid(idle),
    ]);
    expect(row?.end_reason).toBe("PASSWORD_CHANGED");
    const listed = await gql(server.url, SESSIONS, {}, { token: r.body.data!.changePassword.accessToken });
    expect(listed.body.data?.sessions).toEqual([{ id: sid(observer), current: true }]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  errorCode,
  gql,
  LOGIN,
  LOGOUT,
  me,
  newCredentials,
  PAYLOAD,
  REFRESH,
  register,
  type Tokens,
} from "./helpers/graphql";
import { decodePart } from "./helpers/jwt";
import { startServer, type TestServer } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ TRUST_PROXY: "true" });
});
afterAll(() => server.close());

const SESSIONS = "{ sessions { id createdAt lastUsedAt expiresAt userAgent ip current } }";
const sid = (t: Tokens) => decodePart(t.accessToken, 1).sid as string;

async function loginAs(
  user: { email: string; password: string },
  headers: Record<string, string> = {},
): Promise<Tokens> {
  const r = await gql<{ login: Tokens }>(server.url, LOGIN, user, { headers });
  if (!r.body.data?.login) throw new Error(r.text);
  return r.body.data.login;
}

async function expectRevoked(tokens: Tokens) {
  expect((await me(server.url, tokens.accessToken)).body.errors?.[0]?.extensions).toEqual({
    code: "UNAUTHENTICATED",
    reason: "REVOKED",
  });
  expect(errorCode(await gql(server.url, REFRESH, { token: tokens.refreshToken }))).toBe("INVALID_REFRESH_TOKEN");
}

describe("sessions", () => {
  it("lists the caller's active sessions newest first, with device details and the current one marked", async () => {
    const user = await register(server.url);
    const phone = await loginAs(user, { "user-agent": "Phone/1.0", "x-forwarded-for": "203.0.113.7" });
    const laptop = await loginAs(user, {
      "user-agent": `Laptop/2.0 ${"x".repeat(1000)}`,
      "x-forwarded-for": "198.51.100.4, 10.0.0.1",
    });
    await gql(server.url, LOGOUT, { token: user.refreshToken });

    const r = await gql(server.url, SESSIONS, {}, { token: phone.accessToken });
    const sessions = r.body.data?.sessions as Array<Record<string, any>>;
    expect(sessions.map((s) => s.id)).toEqual([sid(laptop), sid(phone)]);
    expect(sessions.map((s) => s.current)).toEqual([false, true]);
    expect(sessions[1]).toMatchObject({ userAgent: "Phone/1.0", ip: "203.0.113.7" });
    expect(sessions[0]?.userAgent.length).toBeLessThanOrEqual(512);
    // TRUST_PROXY=true believes the private hop 10.0.0.1 too: the client is the public address before it.
    expect(sessions[0]?.ip).toBe("198.51.100.4");
    for (const s of sessions) {
      expect(new Date(s.expiresAt).getTime()).toBeGreaterThan(Date.now());
      expect(new Date(s.lastUsedAt).getTime()).toBeGreaterThanOrEqual(new Date(s.createdAt).getTime());
    }
  });

  it("never shows another user's sessions", async () => {
    const alice = await register(server.url);
    const bob = await register(server.url);
    const r = await gql(server.url, SESSIONS, {}, { token: bob.accessToken });
    expect(r.body.data?.sessions.map((s: { id: string }) => s.id)).toEqual([sid(bob)]);
    expect(r.text).not.toContain(sid(alice));
  });

  it("needs a signed-in user whose session is active", async () => {
    expect((await gql(server.url, SESSIONS)).body.errors?.[0]?.extensions).toEqual({
      code: "UNAUTHENTICATED",
      reason: "MISSING",
    });
    const user = await register(server.url);
    await gql(server.url, LOGOUT, { token: user.refreshToken });
    expect(
      (await gql(server.url, SESSIONS, {}, { token: user.accessToken })).body.errors?.[0]?.extensions?.reason,
    ).toBe("REVOKED");
  });
});

describe("revokeSession", () => {
  it("ends one of the caller's sessions at once (access and refresh tokens) and leaves the others", async () => {
    const user = await register(server.url);
    const other = await loginAs(user);
    const r = await gql(
      server.url,
      "mutation($id: ID!) { revokeSession(id: $id) }",
      { id: sid(other) },
      { token: user.accessToken },
    );
    expect(r.body).toEqual({ data: { revokeSession: true } });
    await expectRevoked(other);
    expect((await me(server.url, user.accessToken)).body.data?.me.id).toBe(user.user.id);
  });

  it("answers NOT_FOUND for another user's session or an unknown id, and ends nothing", async () => {
    const alice = await register(server.url);
    const bob = await register(server.url);
    for (const id of [sid(alice), "00000000-0000-4000-8000-000000000000", "not-a-uuid"]) {
      const r = await gql(
        server.url,
        "mutation($id: ID!) { revokeSession(id: $id) }",
        { id },
        { token: bob.accessToken },
      );
      expect(errorCode(r)).toBe("NOT_FOUND");
    }
    expect((await me(server.url, alice.accessToken)).body.data?.me.id).toBe(alice.user.id);
  });
});

describe("logoutAll", () => {
  it("ends every session of the caller, the current one included, and says how many", async () => {
    const user = await register(server.url);
    const a = await loginAs(user);
    const b = await loginAs(user);
    const bystander = await register(server.url);
    const r = await gql(server.url, "mutation { logoutAll }", {}, { token: a.accessToken });
    expect(r.body).toEqual({ data: { logoutAll: 3 } });
    for (const tokens of [user, a, b]) await expectRevoked(tokens);
    expect((await me(server.url, bystander.accessToken)).body.data?.me.id).toBe(bystander.user.id);
  });
});

describe("changePassword", () => {
  const CHANGE = `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ${PAYLOAD} } }`;

  it("needs the current password", async () => {
    const user = await register(server.url);
    const r = await gql(
      server.url,
      CHANGE,
      { input: { currentPassword: "not my password at all", newPassword: "a brand new passphrase" } },
      { token: user.accessToken },
    );
    expect(errorCode(r)).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await gql(server.url, LOGIN, { email: user.email, password: "a brand new passphrase" }))).toBe(
      "INVALID_CREDENTIALS",
    );
  });

  it("applies the password policy to the new password, on field newPassword", async () => {
    const user = await register(server.url);
    for (const newPassword of ["short", "passwordpassword", user.email]) {
      const r = await gql(
        server.url,
        CHANGE,
        { input: { currentPassword: user.password, newPassword } },
        { token: user.accessToken },
      );
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "newPassword" });
    }
    expect(errorCode(await gql(server.url, LOGIN, { email: user.email, password: user.password }))).toBeUndefined();
  });

  it("switches passwords, ends the other sessions, keeps the current one and returns fresh tokens for it", async () => {
    const user = await register(server.url, newCredentials("changer"));
    const other = await loginAs(user);
    const newPassword = "an entirely different passphrase";
    const r = await gql<{ changePassword: Tokens }>(
      server.url,
      CHANGE,
      { input: { currentPassword: user.password, newPassword } },
      { token: user.accessToken },
    );
    const fresh = r.body.data!.changePassword;
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(sid(fresh)).toBe(sid(user));

    await expectRevoked(other);
    // The current session goes on: its access token, the fresh pair...
    expect((await me(server.url, user.accessToken)).body.data?.me.id).toBe(user.user.id);
    expect((await me(server.url, fresh.accessToken)).body.data?.me.id).toBe(user.user.id);
    expect(errorCode(await gql(server.url, REFRESH, { token: fresh.refreshToken }))).toBeUndefined();
    // ...but a refresh token copied before the change no longer works.
    expect(errorCode(await gql(server.url, REFRESH, { token: user.refreshToken }))).toBe("INVALID_REFRESH_TOKEN");

    expect(errorCode(await gql(server.url, LOGIN, { email: user.email, password: user.password }))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect(errorCode(await gql(server.url, LOGIN, { email: user.email, password: newPassword }))).toBeUndefined();
  });
});

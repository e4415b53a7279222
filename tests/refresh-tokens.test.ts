import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorCode, gql, LOGIN, LOGOUT, me, REFRESH, refresh, register, type Tokens } from "./helpers/graphql";
import { decodePart } from "./helpers/jwt";
import { startServer, type TestServer } from "./helpers/server";

const sid = (accessToken: string) => decodePart(accessToken, 1).sid as string;

async function rotate(server: TestServer, token: string): Promise<Tokens> {
  const r = await refresh(server.url, token);
  if (!r.body.data?.refreshToken) throw new Error(`refresh failed: ${r.text}`);
  return r.body.data.refreshToken;
}

async function expectSessionEnded(server: TestServer, tokens: Tokens) {
  expect(errorCode(await refresh(server.url, tokens.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
  expect((await me(server.url, tokens.accessToken)).body.errors?.[0]?.extensions).toEqual({
    code: "UNAUTHENTICATED",
    reason: "REVOKED",
  });
}

describe("rotation", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ REFRESH_REUSE_GRACE: "2" });
  });
  afterAll(() => server.close());

  it("returns a new access token for the same session and a new opaque refresh token", async () => {
    const first = await register(server.url);
    const second = await rotate(server, first.refreshToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits, base64url, not a JWT
    expect(sid(second.accessToken)).toBe(sid(first.accessToken));
    expect(second.user.id).toBe(first.user.id);
    expect((await me(server.url, second.accessToken)).body.data?.me.id).toBe(first.user.id);
    // The new token rotates in turn.
    expect(sid((await rotate(server, second.refreshToken)).accessToken)).toBe(sid(first.accessToken));
  });

  it("stores refresh tokens only as hashes", async () => {
    const user = await register(server.url);
    const rows = await server.sql("select token_hash from refresh_tokens");
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.some((row) => JSON.stringify(row).includes(user.refreshToken))).toBe(false);
    const dump = await server.sql("select * from refresh_tokens where token_hash = ?", [user.refreshToken]);
    expect(dump).toHaveLength(0);
  });

  it("refuses an access token, an unknown token, garbage and a missing argument with INVALID_REFRESH_TOKEN", async () => {
    const user = await register(server.url);
    for (const token of [user.accessToken, "A".repeat(43), "garbage", ""]) {
      const r = await refresh(server.url, token);
      expect(r.status).toBe(200);
      expect(errorCode(r)).toBe("INVALID_REFRESH_TOKEN");
    }
    expect(errorCode(await gql(server.url, "mutation { refreshToken { accessToken } }"))).toBe("INVALID_REFRESH_TOKEN");
  });

  it("ends the whole session when an old refresh token comes back after the grace period", async () => {
    const user = await register(server.url);
    const other = await gql<{ login: Tokens }>(server.url, LOGIN, { email: user.email, password: user.password });
    const otherSession = other.body.data!.login;

    const second = await rotate(server, user.refreshToken);
    await sleep(2_300);
    const reused = await refresh(server.url, user.refreshToken);
    expect(errorCode(reused)).toBe("REFRESH_TOKEN_REUSED");
    // The newest refresh token and the newest access token of that session stop working...
    await expectSessionEnded(server, second);
    // ...while the user's other session is untouched.
    expect((await me(server.url, otherSession.accessToken)).body.data?.me.id).toBe(user.user.id);
    expect((await rotate(server, otherSession.refreshToken)).user.id).toBe(user.user.id);
  });

  it("ends the session when an ancestor comes back, even within the grace period", async () => {
    const user = await register(server.url);
    const second = await rotate(server, user.refreshToken);
    const third = await rotate(server, second.refreshToken); // a successor of the first token is now used
    expect(errorCode(await refresh(server.url, user.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
    await expectSessionEnded(server, third);
  });

  it("ends the session when the newest used token comes back after one of its successors was used", async () => {
    const user = await register(server.url);
    const second = await rotate(server, user.refreshToken);
    const third = await rotate(server, second.refreshToken); // second is now the newest used token
    await rotate(server, second.refreshToken); // so it may come back (grace)...
    await rotate(server, third.refreshToken); // ...until one of its successors is used
    expect(errorCode(await refresh(server.url, second.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
  });

  it("lets the just-used token come back within the grace period, each time with a fresh token", async () => {
    const user = await register(server.url);
    const a = await rotate(server, user.refreshToken);
    const b = await rotate(server, user.refreshToken); // response to the first call lost on the network
    expect(b.refreshToken).not.toBe(a.refreshToken);
    expect(sid(b.accessToken)).toBe(sid(user.accessToken));
    // Either successor works; once one is used, the parent may no longer come back.
    await rotate(server, b.refreshToken);
    expect(errorCode(await refresh(server.url, user.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
  });

  it("gives 8 concurrent refreshes of one token 8 working, distinct tokens (several tabs)", async () => {
    const user = await register(server.url);
    const results = await Promise.all(Array.from({ length: 8 }, () => refresh(server.url, user.refreshToken)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body.errors).toBeUndefined();
    }
    const issued = results.map((r) => r.body.data!.refreshToken);
    expect(new Set(issued.map((t) => t.refreshToken)).size).toBe(8);
    expect(new Set(issued.map((t) => sid(t.accessToken)))).toEqual(new Set([sid(user.accessToken)]));
    // Every tab can go on: each new token rotates and its access token works.
    for (const tokens of issued) {
      expect((await me(server.url, tokens.accessToken)).body.data?.me.id).toBe(user.user.id);
    }
    const next = await Promise.all(issued.map((t) => rotate(server, t.refreshToken)));
    expect(next).toHaveLength(8);
  });

  it("after a concurrent burst, an old token outside the rules still ends the session", async () => {
    const user = await register(server.url);
    const burst = await Promise.all(Array.from({ length: 8 }, () => refresh(server.url, user.refreshToken)));
    const newest = await rotate(server, burst[0]!.body.data!.refreshToken.refreshToken);
    expect(errorCode(await refresh(server.url, user.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
    await expectSessionEnded(server, newest);
  });
});

describe("lifetimes", () => {
  it("refuses a refresh token left unused past REFRESH_TOKEN_TTL (idle expiry)", async () => {
    const server = await startServer({ REFRESH_TOKEN_TTL: "1" });
    try {
      const user = await register(server.url);
      expect(new Date(user.refreshTokenExpiresAt).getTime()).toBeLessThanOrEqual(Date.now() + 1_500);
      await sleep(1_300);
      expect(errorCode(await refresh(server.url, user.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
    } finally {
      await server.close();
    }
  });

  it("extends the idle lifetime on each rotation but never past the session's absolute end", async () => {
    const server = await startServer({ REFRESH_TOKEN_TTL: "2", SESSION_MAX_AGE: "3" });
    try {
      const user = await register(server.url);
      const [session] = await server.sql<{ expires_at: number | string }>(
        "select expires_at from sessions where id = ?",
        [sid(user.accessToken)],
      );
      const sessionEnd = new Date(session!.expires_at).getTime();
      let tokens: Tokens = user;
      for (let i = 0; i < 2; i++) {
        await sleep(1_100); // each wait is shorter than the idle TTL, so rotation keeps the session alive
        tokens = await rotate(server, tokens.refreshToken);
        expect(new Date(tokens.refreshTokenExpiresAt).getTime()).toBeLessThanOrEqual(sessionEnd);
      }
      expect(new Date(tokens.refreshTokenExpiresAt).getTime()).toBe(sessionEnd);
      await sleep(Math.max(0, sessionEnd - Date.now()) + 200);
      expect(errorCode(await refresh(server.url, tokens.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
      expect(errorCode(await me(server.url, tokens.accessToken))).toBe("UNAUTHENTICATED");
    } finally {
      await server.close();
    }
  });
});

describe("logout", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it("ends the session at once, and again with the same token still returns true", async () => {
    const user = await register(server.url);
    const other = await gql<{ login: Tokens }>(server.url, LOGIN, { email: user.email, password: user.password });
    const first = await gql(server.url, LOGOUT, { token: user.refreshToken });
    expect(first.body).toEqual({ data: { logout: true } });
    await expectSessionEnded(server, user);
    expect((await gql(server.url, LOGOUT, { token: user.refreshToken })).body).toEqual({ data: { logout: true } });
    // The user's other session keeps working.
    expect((await me(server.url, other.body.data!.login.accessToken)).body.data?.me.id).toBe(user.user.id);
  });

  it("works with an already-rotated token of the session, ending the session", async () => {
    const user = await register(server.url);
    const second = await rotate(server, user.refreshToken);
    expect((await gql(server.url, LOGOUT, { token: user.refreshToken })).body).toEqual({ data: { logout: true } });
    await expectSessionEnded(server, second);
  });

  it("answers INVALID_REFRESH_TOKEN to garbage, an unknown token or no token", async () => {
    for (const token of ["garbage", "B".repeat(43), undefined]) {
      const r = await gql(server.url, LOGOUT, token === undefined ? {} : { token });
      expect(errorCode(r)).toBe("INVALID_REFRESH_TOKEN");
      expect(r.body.data ?? null).toBeNull();
    }
  });

  it("a logged-out token cannot be rotated (the response is not a reuse alarm)", async () => {
    const user = await register(server.url);
    await gql(server.url, LOGOUT, { token: user.refreshToken });
    expect(errorCode(await gql(server.url, REFRESH, { token: user.refreshToken }))).toBe("INVALID_REFRESH_TOKEN");
  });
});

import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RefreshTokenProofs } from "../src/auth/refresh-tokens";
import { SecretKeys } from "../src/auth/secret-keys";
import {
  errorCode,
  gql,
  LOGIN,
  LOGOUT,
  me,
  PAYLOAD,
  REFRESH,
  REFRESH_TOKEN_SHAPE,
  refresh,
  register,
  type Tokens,
} from "./helpers/graphql";
import { decodePart } from "./helpers/jwt";
import { countRows, sessionRow } from "./helpers/rows";
import { startServer, TEST_SECRET_KEY, type TestServer } from "./helpers/server";

// BEHAVIOUR.md §6, rule by rule, through the real server.

const sid = (accessToken: string) => decodePart(accessToken, 1).sid as string;
const GRACE = 30;
const CHANGE_PASSWORD = `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ${PAYLOAD} } }`;

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

async function expectWorks(server: TestServer, tokens: Tokens, userId: string) {
  expect((await me(server.url, tokens.accessToken)).body.data?.me.id).toBe(userId);
}

/** The same token with its last `bytes` bytes (the proof's end) replaced. */
function withProof(token: string, proof: Buffer): string {
  const bytes = Buffer.from(token, "base64url");
  proof.copy(bytes, bytes.length - proof.length);
  return bytes.toString("base64url");
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ REFRESH_REUSE_GRACE: String(GRACE) });
});
afterAll(() => server.close());

describe("§6.1 constant storage", () => {
  it("adds no row anywhere over 10,000 rotations of one session", { timeout: 180_000 }, async () => {
    const user = await register(server.url);
    let tokens: Tokens = await rotate(server, user.refreshToken); // the rate-limit counter exists from here on
    const before = await countRows(server);
    for (let i = 0; i < 10_000; i++) tokens = await rotate(server, tokens.refreshToken);
    expect(await countRows(server)).toEqual(before);
    await expectWorks(server, tokens, user.user.id);
    expect((await sessionRow(server, sid(tokens.accessToken))).refresh_generation).toBe(10_001);
  });

  it("stores no refresh token, nor anything a token could be looked up by", async () => {
    const user = await register(server.url);
    const next = await rotate(server, user.refreshToken);
    const dump = JSON.stringify(await server.sql("select * from sessions"));
    for (const token of [user.refreshToken, next.refreshToken]) {
      expect(dump).not.toContain(token);
      expect(dump).not.toContain(Buffer.from(token, "base64url").subarray(-32).toString("hex"));
    }
  });
});

describe("§6.2 rotation", () => {
  it("returns a new access token for the same session and a new opaque refresh token", async () => {
    const user = await register(server.url);
    expect(user.refreshToken).toMatch(REFRESH_TOKEN_SHAPE);
    const second = await rotate(server, user.refreshToken);
    expect(second.refreshToken).not.toBe(user.refreshToken);
    expect(second.refreshToken).toMatch(REFRESH_TOKEN_SHAPE);
    expect(second.accessToken).not.toBe(user.accessToken);
    expect(sid(second.accessToken)).toBe(sid(user.accessToken));
    expect(second.user.id).toBe(user.user.id);
    await expectWorks(server, second, user.user.id);
    expect(sid((await rotate(server, second.refreshToken)).accessToken)).toBe(sid(user.accessToken));
  });

  it("extends the idle lifetime on each rotation, never past the session's absolute end", async () => {
    const s = await startServer({ ACCESS_TOKEN_TTL: "60", REFRESH_TOKEN_TTL: "100", SESSION_MAX_AGE: "250" });
    try {
      const user = await register(s.url);
      const sessionEnd = (await sessionRow(s, sid(user.accessToken))).expiresAt.getTime();
      expect(new Date(user.refreshTokenExpiresAt).getTime()).toBeLessThan(sessionEnd);

      let tokens: Tokens = user;
      s.clock.advance(90); // shorter than the idle lifetime: the rotation keeps the session going
      tokens = await rotate(s, tokens.refreshToken);
      expect(new Date(tokens.refreshTokenExpiresAt).getTime()).toBeLessThan(sessionEnd); // 90 + 100 s
      s.clock.advance(90);
      tokens = await rotate(s, tokens.refreshToken);
      expect(new Date(tokens.refreshTokenExpiresAt).getTime()).toBe(sessionEnd); // 180 + 100 s > 250 s: capped
      s.clock.advance((sessionEnd - s.clock.now().getTime()) / 1000 + 1); // just past the absolute end
      expect(errorCode(await refresh(s.url, tokens.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
      expect(errorCode(await me(s.url, tokens.accessToken))).toBe("UNAUTHENTICATED");
    } finally {
      await s.close();
    }
  });

  it("refuses the current token once left unused past REFRESH_TOKEN_TTL (idle expiry), and changes nothing", async () => {
    const s = await startServer({ ACCESS_TOKEN_TTL: "60", REFRESH_TOKEN_TTL: "100" });
    try {
      const user = await register(s.url);
      s.clock.advance(99);
      const fresh = await rotate(s, user.refreshToken); // just within
      s.clock.advance(101);
      const before = await sessionRow(s, sid(user.accessToken));
      expect(errorCode(await refresh(s.url, fresh.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
      expect(await sessionRow(s, sid(user.accessToken))).toEqual(before);
    } finally {
      await s.close();
    }
  });
});

describe("§6.3 grace, without forks", () => {
  it("hands the just-exchanged token, presented again within the grace period, the same next token", async () => {
    const user = await register(server.url);
    const first = await rotate(server, user.refreshToken);
    server.clock.advance(GRACE - 1);
    const again = await rotate(server, user.refreshToken); // the response to the first call was lost
    expect(again.refreshToken).toBe(first.refreshToken);
    expect(sid(again.accessToken)).toBe(sid(user.accessToken));
    await expectWorks(server, again, user.user.id);
    // One chain: the next token rotates, and afterwards neither earlier token may come back.
    const third = await rotate(server, again.refreshToken);
    expect(errorCode(await refresh(server.url, user.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
    await expectSessionEnded(server, third);
  });

  it("gives 20 concurrent presenters of one token byte-identical next tokens, all working (several tabs)", async () => {
    const user = await register(server.url);
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(server.url, user.refreshToken)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body.errors).toBeUndefined();
    }
    const issued = results.map((r) => r.body.data!.refreshToken);
    expect(new Set(issued.map((t) => t.refreshToken)).size).toBe(1);
    for (const tokens of issued) await expectWorks(server, tokens, user.user.id);
    expect((await sessionRow(server, sid(user.accessToken))).refresh_generation).toBe(1);
    await expectWorks(server, await rotate(server, issued[0]!.refreshToken), user.user.id);
  });

  it("treats the just-exchanged token as theft once the grace period is over", async () => {
    const user = await register(server.url);
    const next = await rotate(server, user.refreshToken);
    server.clock.advance(GRACE);
    expect(errorCode(await refresh(server.url, user.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
    await expectSessionEnded(server, next);
  });

  it("has no grace at all with REFRESH_REUSE_GRACE=0", async () => {
    const s = await startServer({ REFRESH_REUSE_GRACE: "0" });
    try {
      const user = await register(s.url);
      const next = await rotate(s, user.refreshToken);
      expect(errorCode(await refresh(s.url, user.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
      await expectSessionEnded(s, next);
    } finally {
      await s.close();
    }
  });
});

describe("§6.4 theft", () => {
  it("ends the whole session when an older token comes back, even within the grace period; other sessions stay", async () => {
    const user = await register(server.url);
    const laptop = (await gql<{ login: Tokens }>(server.url, LOGIN, { email: user.email, password: user.password }))
      .body.data!.login;
    const second = await rotate(server, user.refreshToken);
    const third = await rotate(server, second.refreshToken);
    expect(errorCode(await refresh(server.url, user.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
    await expectSessionEnded(server, third);
    await expectSessionEnded(server, second);
    await expectWorks(server, laptop, user.user.id);
    await expectWorks(server, await rotate(server, laptop.refreshToken), user.user.id);
  });

  it("holds for the session's whole life: a token from 500 rotations and 20 days ago", async () => {
    const user = await register(server.url);
    let tokens: Tokens = user;
    const early: Tokens[] = [];
    for (let i = 0; i < 500; i++) {
      tokens = await rotate(server, tokens.refreshToken);
      if (i < 3) early.push(tokens);
      if (i % 100 === 0) server.clock.advance(4 * 86_400); // within the 14-day idle lifetime each time
    }
    expect(errorCode(await refresh(server.url, early[1]!.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
    await expectSessionEnded(server, tokens);
  });

  it("raises the alarm for an earlier token of an idle session too (idle stops only the current token)", async () => {
    const user = await register(server.url);
    const next = await rotate(server, user.refreshToken);
    server.clock.advance(15 * 86_400); // past the 14-day idle lifetime, before the 30-day absolute end
    expect(errorCode(await refresh(server.url, next.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
    expect((await sessionRow(server, sid(user.accessToken))).endedAt).toBeNull();
    expect(errorCode(await refresh(server.url, user.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
    expect((await sessionRow(server, sid(user.accessToken))).end_reason).toBe("REFRESH_TOKEN_REUSED");
  });

  it("answers a second theft attempt on the ended session with INVALID_REFRESH_TOKEN", async () => {
    const user = await register(server.url);
    const next = await rotate(server, user.refreshToken);
    await rotate(server, next.refreshToken);
    expect(errorCode(await refresh(server.url, user.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
    expect(errorCode(await refresh(server.url, user.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
  });
});

describe("§6.5 forgery changes nothing", () => {
  it("refuses garbage, access tokens, altered tokens and a real session id with a made-up proof", async () => {
    const user = await register(server.url);
    const current = await rotate(server, user.refreshToken);
    const session = sid(user.accessToken);
    const before = await sessionRow(server, session);
    const bytes = Buffer.from(current.refreshToken, "base64url");
    const forgeries = [
      "garbage",
      "",
      user.accessToken,
      "A".repeat(76),
      "B".repeat(43), // the shape of a version 1 token nobody has
      withProof(current.refreshToken, randomBytes(32)),
      withProof(user.refreshToken, randomBytes(32)), // an earlier generation: no theft alarm for a forger
      withProof(current.refreshToken, randomBytes(1)), // one byte altered
      // A later generation than was ever issued, with a made-up proof.
      (() => {
        const later = Buffer.from(bytes);
        later.writeUInt32BE(7, 17);
        return withProof(later.toString("base64url"), randomBytes(32));
      })(),
    ];
    for (const token of forgeries) {
      const r = await refresh(server.url, token);
      expect(r.status).toBe(200);
      expect(errorCode(r)).toBe("INVALID_REFRESH_TOKEN");
      expect(r.text).not.toContain(session);
      const logout = await gql(server.url, LOGOUT, { token });
      expect(errorCode(logout)).toBe("INVALID_REFRESH_TOKEN");
    }
    expect(await sessionRow(server, session)).toEqual(before);
    await expectWorks(server, current, user.user.id);
    await expectWorks(server, await rotate(server, current.refreshToken), user.user.id);
  });

  it("refuses a token made under a key that is not in SECRET_KEYS", async () => {
    const user = await register(server.url);
    const row = await sessionRow(server, sid(user.accessToken));
    const stranger = new RefreshTokenProofs(new SecretKeys([randomBytes(32)]));
    const token = stranger.mint({ id: row.id, secret: row.refresh_secret }, 0);
    expect(errorCode(await refresh(server.url, token))).toBe("INVALID_REFRESH_TOKEN");
    await expectWorks(server, await rotate(server, user.refreshToken), user.user.id);
  });
});

describe("§6.6 retirement", () => {
  it("retires every earlier token of the kept session at a password change, grace path included; the session stays", async () => {
    const user = await register(server.url);
    const before = await rotate(server, user.refreshToken); // user.refreshToken is now within its grace period
    const r = await gql<{ changePassword: Tokens }>(
      server.url,
      CHANGE_PASSWORD,
      { input: { currentPassword: user.password, newPassword: "an entirely new passphrase" } },
      { token: before.accessToken },
    );
    const fresh = r.body.data!.changePassword;
    expect(sid(fresh.accessToken)).toBe(sid(user.accessToken));
    for (const old of [user.refreshToken, before.refreshToken]) {
      const refused = await refresh(server.url, old);
      expect(errorCode(refused)).toBe("INVALID_REFRESH_TOKEN"); // not theft...
      expect(errorCode(await gql(server.url, LOGOUT, { token: old }))).toBe("INVALID_REFRESH_TOKEN");
    }
    // ...so the session is still there.
    await expectWorks(server, fresh, user.user.id);
    const next = await rotate(server, fresh.refreshToken);
    await expectWorks(server, next, user.user.id);
  });
});

describe("§6.7 leaks", () => {
  it("cannot be made from a copy of the database: the row's secret with any other key is refused", async () => {
    const user = await register(server.url);
    const row = await sessionRow(server, sid(user.accessToken));
    for (let i = 0; i < 3; i++) {
      const guess = new RefreshTokenProofs(new SecretKeys([randomBytes(32)]));
      const token = guess.mint({ id: row.id, secret: row.refresh_secret }, row.refresh_generation);
      expect(errorCode(await refresh(server.url, token))).toBe("INVALID_REFRESH_TOKEN");
    }
  });

  it("cannot be made from a copy of the keys: the server's key with any other session secret is refused", async () => {
    const user = await register(server.url);
    const row = await sessionRow(server, sid(user.accessToken));
    const keys = new RefreshTokenProofs(new SecretKeys([Buffer.from(TEST_SECRET_KEY, "hex")]));
    // Sanity: with the real secret this is exactly the current token.
    expect(keys.mint({ id: row.id, secret: row.refresh_secret }, 0)).toBe(user.refreshToken);
    const token = keys.mint({ id: row.id, secret: randomBytes(32).toString("hex") }, 0);
    expect(errorCode(await refresh(server.url, token))).toBe("INVALID_REFRESH_TOKEN");
    await expectWorks(server, await rotate(server, user.refreshToken), user.user.id);
  });
});

describe("SECRET_KEYS rotation", () => {
  it("keeps tokens made under the old first key working after a new key is put first, and moves them to it", async () => {
    const oldKey = TEST_SECRET_KEY;
    const newKey = randomBytes(32).toString("base64url");
    const first = await startServer({ SECRET_KEYS: oldKey });
    const user = await register(first.url);
    const made = await rotate(first, user.refreshToken);
    await first.close();

    const rotated = await startServer({ SECRET_KEYS: `${newKey},${oldKey}` }, first.databaseUrl);
    try {
      // Made under the old key: still rotates, and the grace path still gives the very same token.
      const next = await rotate(rotated, made.refreshToken);
      expect(await rotate(rotated, made.refreshToken)).toMatchObject({ refreshToken: next.refreshToken });
      const underNew = await rotate(rotated, next.refreshToken);
      await rotated.close();

      // Once the old key is removed, the tokens made under the new one go on.
      const only = await startServer({ SECRET_KEYS: newKey }, first.databaseUrl);
      try {
        await expectWorks(only, await rotate(only, underNew.refreshToken), user.user.id);
      } finally {
        await only.close();
      }
    } finally {
      await rotated.close().catch(() => {});
    }
  });

  it("refuses a token whose key was removed", async () => {
    const first = await startServer({ SECRET_KEYS: TEST_SECRET_KEY });
    const user = await register(first.url);
    await first.close();
    const later = await startServer({ SECRET_KEYS: randomBytes(32).toString("hex") }, first.databaseUrl);
    try {
      expect(errorCode(await refresh(later.url, user.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
    } finally {
      await later.close();
    }
  });
});

describe("§6.9 concurrent refreshes", () => {
  it("never answer 5xx, and every caller that got a success holds a working token, over 20 rounds", async () => {
    for (let round = 0; round < 20; round++) {
      const user = await register(server.url);
      const results = await Promise.all(Array.from({ length: 8 }, () => refresh(server.url, user.refreshToken)));
      const ok = results.filter((r) => r.body.data?.refreshToken);
      expect(results.every((r) => r.status === 200)).toBe(true);
      expect(ok).toHaveLength(8);
      for (const r of ok) await expectWorks(server, r.body.data!.refreshToken, user.user.id);
    }
  });
});

describe("logout", () => {
  it("ends the session at once, and again with the same token still returns true", async () => {
    const user = await register(server.url);
    const other = await gql<{ login: Tokens }>(server.url, LOGIN, { email: user.email, password: user.password });
    expect((await gql(server.url, LOGOUT, { token: user.refreshToken })).body).toEqual({ data: { logout: true } });
    await expectSessionEnded(server, user);
    expect((await gql(server.url, LOGOUT, { token: user.refreshToken })).body).toEqual({ data: { logout: true } });
    await expectWorks(server, other.body.data!.login, user.user.id);
  });

  it("works with an already-rotated token of the session, ending the session", async () => {
    const user = await register(server.url);
    const second = await rotate(server, user.refreshToken);
    expect((await gql(server.url, LOGOUT, { token: user.refreshToken })).body).toEqual({ data: { logout: true } });
    await expectSessionEnded(server, second);
  });

  it("answers INVALID_REFRESH_TOKEN to garbage, an unknown token or no token", async () => {
    for (const token of ["garbage", "B".repeat(43), "C".repeat(76), undefined]) {
      const r = await gql(server.url, LOGOUT, token === undefined ? {} : { token });
      expect(errorCode(r)).toBe("INVALID_REFRESH_TOKEN");
      expect(r.body.data ?? null).toBeNull();
    }
  });

  it("says reason MISSING when no token arrived at all, and nothing for a token that did", async () => {
    for (const operation of ["mutation { refreshToken { accessToken } }", "mutation { logout }"]) {
      const none = await gql(server.url, operation);
      expect(none.body.errors?.[0]?.extensions).toEqual({ code: "INVALID_REFRESH_TOKEN", reason: "MISSING" });
    }
    const empty = await refresh(server.url, "");
    expect(empty.body.errors?.[0]?.extensions).toEqual({ code: "INVALID_REFRESH_TOKEN", reason: "MISSING" });
    const garbage = await refresh(server.url, "garbage");
    expect(garbage.body.errors?.[0]?.extensions).toEqual({ code: "INVALID_REFRESH_TOKEN" });
  });

  it("a logged-out token cannot be rotated (the response is not a reuse alarm)", async () => {
    const user = await register(server.url);
    await gql(server.url, LOGOUT, { token: user.refreshToken });
    expect(errorCode(await gql(server.url, REFRESH, { token: user.refreshToken }))).toBe("INVALID_REFRESH_TOKEN");
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorCode, gql, LOGIN, me, newCredentials, REFRESH, REGISTER, register, type Tokens } from "./helpers/graphql";
import { decodePart, forge } from "./helpers/jwt";
import { startServer, TEST_JWT_SECRET, type TestServer } from "./helpers/server";

let server: TestServer;
let user: Tokens & { email: string; password: string };
let claims: Record<string, any>;

beforeAll(async () => {
  server = await startServer();
  user = await register(server.url);
  claims = decodePart(user.accessToken, 1);
});
afterAll(() => server.close());

const now = () => Math.floor(Date.now() / 1000);
const goodHeader = { alg: "HS256", typ: "at+jwt" };
/** Claims of a token the server would accept, for the user's live session. */
const validClaims = () => ({ ...claims, iat: now(), exp: now() + 300, jti: "forged" });

async function expectRejected(token: string, reason: "INVALID" | "EXPIRED" | "REVOKED") {
  const r = await me(server.url, token);
  expect(r.status).toBe(200);
  expect(r.body.data ?? null).toBeNull();
  expect(r.body.errors?.[0]?.extensions).toEqual({ code: "UNAUTHENTICATED", reason });
  expect(r.text).not.toMatch(/stack|jsonwebtoken|JsonWebTokenError/i);
}

describe("issued access tokens", () => {
  it("are typed at+jwt, HS256, with iss, aud, sub = user id, sid, roles, jti and exp = iat + TTL", () => {
    expect(decodePart(user.accessToken, 0)).toEqual({ alg: "HS256", typ: "at+jwt" });
    expect(claims).toMatchObject({ iss: "auth-server", aud: "auth-server", sub: user.user.id, roles: ["USER"] });
    expect(claims.sub).not.toContain("@");
    expect(typeof claims.sid).toBe("string");
    expect(typeof claims.jti).toBe("string");
    expect(claims.exp - claims.iat).toBe(server.config.jwt.accessTokenTtl);
  });

  it("gives each token its own jti", async () => {
    const again = await gql<{ login: Tokens }>(server.url, LOGIN, { email: user.email, password: user.password });
    expect(decodePart(again.body.data!.login.accessToken, 1).jti).not.toBe(claims.jti);
  });

  it("let `me` answer with the token's user", async () => {
    const r = await me(server.url, user.accessToken);
    expect(r.body.data?.me).toMatchObject({ id: user.user.id, email: user.email });
  });

  it("accept a token the server did not issue only if everything checks out (control for the forgeries)", async () => {
    const r = await me(server.url, forge(goodHeader, validClaims(), TEST_JWT_SECRET));
    expect(r.body.data?.me.id).toBe(user.user.id);
  });

  it("tolerate 5 s of clock skew on exp", async () => {
    const r = await me(server.url, forge(goodHeader, { ...validClaims(), exp: now() - 2 }, TEST_JWT_SECRET));
    expect(r.body.data?.me.id).toBe(user.user.id);
  });
});

describe("forged or unusable access tokens are UNAUTHENTICATED", () => {
  it.each(["none", "None", "NONE", "nOnE"])("alg %s (unsigned)", async (alg) => {
    await expectRejected(forge({ alg, typ: "at+jwt" }, validClaims(), null), "INVALID");
  });

  it.each(["HS384", "HS512"])("%s with the right key (algorithm is pinned)", async (alg) => {
    await expectRejected(forge({ alg, typ: "at+jwt" }, validClaims(), TEST_JWT_SECRET), "INVALID");
  });

  it("signed with another key", async () => {
    await expectRejected(forge(goodHeader, validClaims(), `${TEST_JWT_SECRET}-other`), "INVALID");
  });

  it.each([
    ["JWT", { alg: "HS256", typ: "JWT" }],
    ["missing", { alg: "HS256" }],
  ])("typ %s instead of at+jwt", async (_name, header) => {
    await expectRejected(forge(header, validClaims(), TEST_JWT_SECRET), "INVALID");
  });

  it.each([
    ["wrong iss", { iss: "someone-else" }],
    ["wrong aud", { aud: "another-api" }],
    ["missing iss", { iss: undefined }],
    ["missing aud", { aud: undefined }],
    ["missing exp", { exp: undefined }],
    ["missing sub", { sub: undefined }],
    ["missing sid", { sid: undefined }],
  ])("%s", async (_name, change) => {
    await expectRejected(forge(goodHeader, { ...validClaims(), ...change }, TEST_JWT_SECRET), "INVALID");
  });

  it("expired (past the skew) → reason EXPIRED", async () => {
    await expectRejected(
      forge(goodHeader, { ...validClaims(), iat: now() - 100, exp: now() - 30 }, TEST_JWT_SECRET),
      "EXPIRED",
    );
  });

  it("tampered payload (roles raised, signature kept)", async () => {
    const [header, , signature] = user.accessToken.split(".");
    const payload = Buffer.from(JSON.stringify({ ...claims, roles: ["USER", "ADMIN"] })).toString("base64url");
    await expectRejected(`${header}.${payload}.${signature}`, "INVALID");
  });

  it("a refresh token sent as the Bearer token", async () => {
    await expectRejected(user.refreshToken, "INVALID");
  });

  it("garbage", async () => {
    await expectRejected("not.a.jwt", "INVALID");
  });

  it("another scheme than Bearer → INVALID, no header or an empty Bearer → MISSING", async () => {
    const basic = await gql(
      server.url,
      "{ me { id } }",
      {},
      { headers: { authorization: `Basic ${user.accessToken}` } },
    );
    expect(basic.body.errors?.[0]?.extensions).toEqual({ code: "UNAUTHENTICATED", reason: "INVALID" });
    const none = await gql(server.url, "{ me { id } }");
    expect(none.body.errors?.[0]?.extensions).toEqual({ code: "UNAUTHENTICATED", reason: "MISSING" });
    // What `Bearer ${token}` sends before the client has a token: missing, not invalid.
    for (const authorization of ["Bearer ", "Bearer", "bearer   "]) {
      const empty = await gql(server.url, "{ me { id } }", {}, { headers: { authorization } });
      expect(empty.body.errors?.[0]?.extensions).toEqual({ code: "UNAUTHENTICATED", reason: "MISSING" });
    }
  });

  it("a well-signed token whose session does not exist → REVOKED", async () => {
    await expectRejected(
      forge(goodHeader, { ...validClaims(), sid: "00000000-0000-4000-8000-000000000000" }, TEST_JWT_SECRET),
      "REVOKED",
    );
  });

  it("a well-signed token whose sid belongs to another user → REVOKED", async () => {
    const other = await register(server.url);
    const otherSid = decodePart(other.accessToken, 1).sid;
    await expectRejected(forge(goodHeader, { ...validClaims(), sid: otherSid }, TEST_JWT_SECRET), "REVOKED");
  });
});

describe("a stale or broken Bearer header", () => {
  const stale = () => forge(goodHeader, { ...validClaims(), exp: now() - 600 }, TEST_JWT_SECRET);

  it("does not block login, register or refreshToken", async () => {
    const headers = { authorization: `Bearer ${stale()}` };
    const login = await gql(server.url, LOGIN, { email: user.email, password: user.password }, { headers });
    expect(login.body.data?.login.accessToken).toBeTypeOf("string");
    const reg = await gql(server.url, REGISTER, newCredentials(), { headers });
    expect(reg.body.data?.register.accessToken).toBeTypeOf("string");
    const rotated = await gql(
      server.url,
      REFRESH,
      { token: login.body.data?.login.refreshToken },
      { headers: { authorization: "Bearer garbage" } },
    );
    expect(rotated.body.data?.refreshToken.refreshToken).toBeTypeOf("string");
    expect(errorCode(rotated)).toBeUndefined();
  });
});

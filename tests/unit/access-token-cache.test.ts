import { describe, expect, it } from "vitest";
import { AccessTokens, CLOCK_TOLERANCE_SECONDS, VERIFIED_TOKENS_KEPT } from "../../src/auth/access-tokens";
import { SigningKeys } from "../../src/auth/signing-keys";
import { forge } from "../helpers/jwt";

// Verified access tokens are remembered by their text (access-tokens.ts):
// what that must never change is what verify() answers.

const SECRET = "unit-test-hs256-key-0123456789abcdefghijklmnop";
const TTL = 900;
const T0 = Date.UTC(2026, 0, 1) / 1000;

function tokens() {
  const clock = { seconds: T0, now: () => new Date(clock.seconds * 1000) };
  const accessTokens = new AccessTokens({
    keys: SigningKeys.hmac(Buffer.from(SECRET)),
    issuer: "auth-server",
    audience: "auth-server",
    ttlSeconds: TTL,
    clock,
  });
  const sign = (sessionId = "s-1") =>
    accessTokens.sign({
      userId: "u-1",
      sessionId,
      roles: ["USER"],
      authTime: clock.now(),
      amr: ["pwd"],
    });
  return { accessTokens, clock, sign };
}

describe("remembered access tokens", () => {
  it("are answered from memory once verified: the same frozen result", () => {
    const { accessTokens, sign } = tokens();
    const token = sign();
    const first = accessTokens.verify(token);
    expect(first.ok).toBe(true);
    expect(accessTokens.rememberedCount).toBe(1);
    const again = accessTokens.verify(token);
    expect(again).toBe(first);
    expect(Object.isFrozen(again.ok && again.claims)).toBe(true);
    expect(Object.isFrozen(again.ok && again.claims.roles)).toBe(true);
  });

  it("still expire at exp + the tolerated skew, and stay expired", () => {
    const { accessTokens, clock, sign } = tokens();
    const token = sign();
    expect(accessTokens.verify(token).ok).toBe(true);
    clock.seconds = T0 + TTL + CLOCK_TOLERANCE_SECONDS - 1;
    expect(accessTokens.verify(token).ok).toBe(true);
    clock.seconds = T0 + TTL + CLOCK_TOLERANCE_SECONDS;
    expect(accessTokens.verify(token)).toEqual({ ok: false, reason: "EXPIRED" });
    expect(accessTokens.rememberedCount).toBe(0);
    expect(accessTokens.verify(token)).toEqual({ ok: false, reason: "EXPIRED" });
    // Moving the clock back (a test, or a corrected server clock) verifies it afresh.
    clock.seconds = T0;
    expect(accessTokens.verify(token).ok).toBe(true);
  });

  it("do not let a token with a changed signature or payload through", () => {
    const { accessTokens, sign } = tokens();
    const token = sign();
    expect(accessTokens.verify(token).ok).toBe(true);
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === "A" ? "B" : "A"}${signature.at(-1)}`;
    expect(accessTokens.verify(`${header}.${payload}.${flipped}`)).toEqual({ ok: false, reason: "INVALID" });
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const raised = Buffer.from(JSON.stringify({ ...claims, roles: ["ADMIN"] })).toString("base64url");
    expect(accessTokens.verify(`${header}.${raised}.${signature}`)).toEqual({ ok: false, reason: "INVALID" });
    expect(accessTokens.rememberedCount).toBe(1);
  });

  it("are only tokens that passed: refused ones take no room", () => {
    const { accessTokens } = tokens();
    const now = T0;
    const claims = { sub: "u-1", sid: "s-1", roles: ["USER"], jti: "j", iss: "auth-server", aud: "auth-server" };
    const refused = [
      forge({ alg: "HS256", typ: "at+jwt" }, { ...claims, iat: now, exp: now + 60 }, `${SECRET}-other`),
      forge({ alg: "HS256", typ: "JWT" }, { ...claims, iat: now, exp: now + 60 }, SECRET),
      forge({ alg: "HS256", typ: "at+jwt" }, { ...claims, iat: now - 100, exp: now - 30 }, SECRET),
    ];
    for (const token of refused) expect(accessTokens.verify(token).ok).toBe(false);
    expect(accessTokens.rememberedCount).toBe(0);
  });

  it(`are at most ${VERIFIED_TOKENS_KEPT}: the oldest is forgotten, and verified again when it comes back`, () => {
    const { accessTokens, sign } = tokens();
    const first = sign("s-first");
    const firstResult = accessTokens.verify(first);
    for (let i = 0; i < VERIFIED_TOKENS_KEPT + 10; i++) expect(accessTokens.verify(sign(`s-${i}`)).ok).toBe(true);
    expect(accessTokens.rememberedCount).toBe(VERIFIED_TOKENS_KEPT);
    const again = accessTokens.verify(first);
    expect(again.ok).toBe(true);
    expect(again).not.toBe(firstResult);
  });
});

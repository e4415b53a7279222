import { describe, expect, it } from "vitest";
import { isRecentSignIn } from "../../src/auth/recent-sign-in";
import type { EmailTokenPurpose } from "../../src/db/entities";
import { codeCheckable, judgeEmailToken, MAX_CODE_ATTEMPTS, type TokenVerdict } from "../../src/email/email-tokens";
import { linkTo } from "../../src/email/links";

// BEHAVIOUR.md §7 (mailed tokens) and §8 (recent sign-in) as tables over the pure rules.

const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000);

/** A reset token sent to alice@example.com, expiring at t = 1800 s. */
const base = {
  purpose: "reset-password" as EmailTokenPurpose,
  sentTo: "alice@example.com",
  accountEmail: "alice@example.com",
  expiresAt: at(1800),
  usedAt: null as Date | null,
};

describe("which mailed tokens may be used", () => {
  const rows: Array<[string, Partial<typeof base> | null, EmailTokenPurpose, number, TokenVerdict]> = [
    ["a fresh token for its purpose", {}, "reset-password", 0, "usable"],
    ["just before it expires", {}, "reset-password", 1799, "usable"],
    ["at its expiry", {}, "reset-password", 1800, "expired"],
    ["after its expiry", {}, "reset-password", 5000, "expired"],
    ["used once already", { usedAt: at(10) }, "reset-password", 20, "used"],
    ["for another purpose", {}, "verify-email", 0, "other-purpose"],
    ["a sign-in token as a reset token", { purpose: "sign-in" }, "reset-password", 0, "other-purpose"],
    [
      "sent to an address the account no longer has",
      { accountEmail: "new@example.com" },
      "reset-password",
      0,
      "address-changed",
    ],
    [
      "a verification for an old address",
      { purpose: "verify-email", accountEmail: "b@example.com" },
      "verify-email",
      0,
      "address-changed",
    ],
    [
      "an email change (sent to the new address)",
      { purpose: "email-change", sentTo: "new@example.com" },
      "email-change",
      0,
      "usable",
    ],
    ["an unknown token", null, "reset-password", 0, "unknown"],
    // Used beats expired beats address: the order does not matter to the client (one error), but is stable.
    ["used and expired", { usedAt: at(10) }, "reset-password", 5000, "used"],
  ];
  it.each(rows)("%s", (_name, change, purpose, now, verdict) => {
    expect(judgeEmailToken(change === null ? null : { ...base, ...change }, purpose, at(now))).toBe(verdict);
  });
});

describe("when a sign-in code may still be checked", () => {
  const code = { ...base, purpose: "sign-in" as const, codeHash: "mac", codeAttempts: 0 };
  it.each([
    ["a fresh code", {}, 0, true],
    [`after ${MAX_CODE_ATTEMPTS - 1} wrong tries`, { codeAttempts: MAX_CODE_ATTEMPTS - 1 }, 0, true],
    [`after ${MAX_CODE_ATTEMPTS} wrong tries`, { codeAttempts: MAX_CODE_ATTEMPTS }, 0, false],
    ["expired", {}, 1800, false],
    ["used (by its link or code)", { usedAt: at(1) }, 2, false],
    ["no code (not a sign-in token)", { codeHash: null }, 0, false],
    ["for an address the account no longer has", { accountEmail: "x@example.com" }, 0, false],
  ] as const)("%s → %s", (_name, change, now, expected) => {
    expect(codeCheckable({ ...code, ...change }, at(now))).toBe(expected);
  });
});

describe("recent sign-in (REAUTH_MAX_AGE)", () => {
  const now = at(10_000);
  const authTime = (secondsAgo: number) => T0 / 1000 + 10_000 - secondsAgo;
  it.each([
    ["signed in now", authTime(0), true],
    ["exactly REAUTH_MAX_AGE ago", authTime(300), true],
    ["one second later", authTime(301), false],
    ["a token without auth_time (signed before it existed)", undefined, false],
    ["within the clock tolerance in the future", authTime(-5), true],
    ["further in the future (not trusted)", authTime(-6), false],
  ] as const)("%s → %s", (_name, at, expected) => {
    expect(isRecentSignIn(at, now, 300)).toBe(expected);
  });
});

describe("links in mails", () => {
  it.each([
    ["https://app.example.com", "https://app.example.com/reset-password?token=abc"],
    ["https://app.example.com/", "https://app.example.com/reset-password?token=abc"],
    ["https://example.com/account/", "https://example.com/account/reset-password?token=abc"],
    ["http://127.0.0.1:5173/?x=1#y", "http://127.0.0.1:5173/reset-password?token=abc"],
  ])("APP_URL %s → %s", (appUrl, link) => {
    expect(linkTo(appUrl, "reset-password", "abc")).toBe(link);
  });
});

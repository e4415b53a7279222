import { describe, expect, it } from "vitest";
import {
  type ChallengeVerdict,
  type ExpectedCeremony,
  judgeChallenge,
  passkeyAmr,
  passkeyNameProblem,
  signCountVerdict,
} from "../../src/mfa/webauthn-rules";

// BEHAVIOUR.md §8 (passkeys) as tables over the pure rules.

const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const ALICE = "00000000-0000-4000-8000-00000000a11c";
const BOB = "00000000-0000-4000-8000-000000000b0b";

/** An authentication ceremony started for nobody (a discoverable sign-in), expiring at t = 300 s. */
const base = {
  purpose: "authentication" as const,
  userId: null as string | null,
  binding: null as string | null,
  expiresAt: at(300),
  usedAt: null as Date | null,
};

describe("which WebAuthn ceremonies may be finished", () => {
  const rows: Array<[string, Partial<typeof base> | null, ExpectedCeremony, number, ChallengeVerdict]> = [
    ["a fresh sign-in ceremony", {}, { purpose: "authentication" }, 0, "usable"],
    ["just before it expires", {}, { purpose: "authentication" }, 299, "usable"],
    ["at its expiry (5 minutes)", {}, { purpose: "authentication" }, 300, "expired"],
    ["used once already", { usedAt: at(1) }, { purpose: "authentication" }, 2, "used"],
    ["unknown", null, { purpose: "authentication" }, 0, "unknown"],
    [
      "a registration as a sign-in",
      { purpose: "registration" as never },
      { purpose: "authentication" },
      0,
      "other-purpose",
    ],
    ["a sign-in as a registration", {}, { purpose: "registration", userId: ALICE }, 0, "other-purpose"],
    // Re-authentication finishes a discoverable ceremony for a known user: allowed (the passkey must be theirs).
    ["a discoverable ceremony for a known user", {}, { purpose: "authentication", userId: ALICE }, 0, "usable"],
    ["one started for Alice, by Alice", { userId: ALICE }, { purpose: "authentication", userId: ALICE }, 0, "usable"],
    [
      "one started for Alice, by Bob",
      { userId: ALICE },
      { purpose: "authentication", userId: BOB },
      0,
      "other-purpose",
    ],
    ["one started for Alice, as a plain sign-in", { userId: ALICE }, { purpose: "authentication" }, 0, "other-purpose"],
    ["an MFA ceremony as a plain sign-in", { binding: "mfa-1" }, { purpose: "authentication" }, 0, "other-purpose"],
    ["a plain sign-in's as an MFA step", {}, { purpose: "authentication", binding: "mfa-1" }, 0, "other-purpose"],
    [
      "an MFA ceremony for another MFA step",
      { binding: "mfa-1" },
      { purpose: "authentication", binding: "mfa-2" },
      0,
      "other-purpose",
    ],
    [
      "an MFA ceremony for its own step",
      { binding: "mfa-1" },
      { purpose: "authentication", binding: "mfa-1" },
      0,
      "usable",
    ],
  ];
  it.each(rows)("%s", (_, overrides, expected, now, verdict) => {
    expect(judgeChallenge(overrides === null ? null : { ...base, ...overrides }, expected, at(now))).toBe(verdict);
  });
});

describe("signature counters (a clone does not go forward)", () => {
  const rows: Array<[number, number, "ok" | "cloned"]> = [
    [0, 0, "ok"], // an authenticator that keeps no counter (synced passkeys)
    [0, 1, "ok"],
    [5, 6, "ok"],
    [5, 1000, "ok"],
    [5, 5, "cloned"],
    [5, 4, "cloned"],
    [5, 0, "cloned"], // the counter vanished: a different authenticator with the same key
    [4294967294, 4294967295, "ok"],
  ];
  it.each(rows)("stored %i, presented %i: %s", (stored, presented, verdict) => {
    expect(signCountVerdict(stored, presented)).toBe(verdict);
  });
});

describe("passkey sign-ins in RFC 8176 terms", () => {
  it("says hwk for a device-bound passkey, swk for a synced one, and two factors either way", () => {
    expect(passkeyAmr("singleDevice")).toEqual(["hwk", "user", "mfa"]);
    expect(passkeyAmr("multiDevice")).toEqual(["swk", "user", "mfa"]);
  });
});

describe("passkey names", () => {
  it.each([
    ["Work laptop", null],
    ["x", null],
    ["🔑".repeat(64), null], // 64 characters, 128 UTF-16 units
    ["a".repeat(64), null],
    ["", /1 to 64/],
    ["a".repeat(65), /1 to 64/],
    ["   ", /blank/],
    ["Work\nlaptop", /one line/],
    ["tab\there", /one line/],
  ])("%j", (name, problem) => {
    const found = passkeyNameProblem(name);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toMatch(problem);
  });
});

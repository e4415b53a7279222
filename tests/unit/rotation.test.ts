import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideLogout,
  decideRefresh,
  isSessionActive,
  type RefreshDecision,
  type RefreshState,
  refreshTokenExpiry,
} from "../../src/auth/rotation";

// BEHAVIOUR.md §6 as a table over the pure decision: no server, no database.

const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const policy = { refreshTokenTtl: 1000, reuseGrace: 30 };

/** Generation 5 is current; 4 was exchanged for it at t = 100 s; the session ends at t = 10,000 s. */
const base: RefreshState = {
  generation: 5,
  rotatedAt: at(100),
  retiredBelow: 0,
  lastUsedAt: at(100),
  expiresAt: at(10_000),
  endedAt: null,
};

const rows: Array<
  [string, Partial<RefreshState>, { generation: number; authentic?: boolean }, number, RefreshDecision]
> = [
  // §6.2 rotation
  ["the current token rotates", {}, { generation: 5 }, 110, { outcome: "rotate", generation: 6 }],
  ["the current token rotates up to the idle end", {}, { generation: 5 }, 1099, { outcome: "rotate", generation: 6 }],
  ["the current token is refused once idle", {}, { generation: 5 }, 1100, { outcome: "invalid", reason: "IDLE" }],
  [
    "the current token is refused past the absolute end, idle or not",
    { lastUsedAt: at(9_900), rotatedAt: at(9_900) },
    { generation: 5 },
    10_000,
    { outcome: "invalid", reason: "EXPIRED" },
  ],
  [
    "the first token of a new session rotates",
    { generation: 0, rotatedAt: null },
    { generation: 0 },
    110,
    {
      outcome: "rotate",
      generation: 1,
    },
  ],
  // §6.3 grace, without forks
  [
    "the just-exchanged token within the grace period gets the current one again",
    {},
    { generation: 4 },
    129,
    {
      outcome: "grace",
      generation: 5,
    },
  ],
  [
    "the just-exchanged token at the end of the grace period is theft",
    {},
    { generation: 4 },
    130,
    {
      outcome: "theft",
    },
  ],
  // §6.4 theft
  ["an older token is theft, even within the grace period", {}, { generation: 3 }, 101, { outcome: "theft" }],
  [
    "the first token of the session is theft for the session's whole life",
    {},
    { generation: 0 },
    1099,
    {
      outcome: "theft",
    },
  ],
  [
    "the just-exchanged token after the next was used is theft (the counter moved on)",
    { generation: 6, rotatedAt: at(105) },
    { generation: 4 },
    106,
    { outcome: "theft" },
  ],
  // §6.5 forgery
  [
    "a wrong proof changes nothing",
    {},
    { generation: 5, authentic: false },
    110,
    {
      outcome: "invalid",
      reason: "FORGED",
    },
  ],
  [
    "a wrong proof for an earlier generation raises no theft alarm",
    {},
    { generation: 1, authentic: false },
    110,
    {
      outcome: "invalid",
      reason: "FORGED",
    },
  ],
  ["a generation never issued is forged", {}, { generation: 6 }, 110, { outcome: "invalid", reason: "FORGED" }],
  [
    "forgery is checked before the session's state",
    { endedAt: at(50) },
    { generation: 5, authentic: false },
    110,
    {
      outcome: "invalid",
      reason: "FORGED",
    },
  ],
  // §6.6 retirement
  [
    "a token from before a password change is retired, not theft",
    { generation: 6, retiredBelow: 6, rotatedAt: null },
    { generation: 5 },
    101,
    { outcome: "retired" },
  ],
  [
    "the grace path is retired too",
    { generation: 6, retiredBelow: 6, rotatedAt: null },
    { generation: 5 },
    100,
    { outcome: "retired" },
  ],
  [
    "the token issued by the password change rotates",
    { generation: 6, retiredBelow: 6, rotatedAt: null },
    { generation: 6 },
    101,
    { outcome: "rotate", generation: 7 },
  ],
  [
    "after a password change, an earlier token of the new chain is theft again",
    { generation: 8, retiredBelow: 6, rotatedAt: at(150), lastUsedAt: at(150) },
    { generation: 6 },
    151,
    { outcome: "theft" },
  ],
  [
    "an earlier token of an idle session is still theft (§6.4: the session's whole life)",
    {},
    { generation: 3 },
    5_000,
    { outcome: "theft" },
  ],
  // Ended sessions
  [
    "any token of an ended session is refused",
    { endedAt: at(105) },
    { generation: 5 },
    110,
    {
      outcome: "invalid",
      reason: "ENDED",
    },
  ],
  [
    "theft on an ended session raises no second alarm",
    { endedAt: at(105) },
    { generation: 2 },
    110,
    {
      outcome: "invalid",
      reason: "ENDED",
    },
  ],
];

describe("decideRefresh (BEHAVIOUR.md §6)", () => {
  it.each(rows)("%s", (_name, state, presented, seconds, expected) => {
    expect(decideRefresh({ ...base, ...state }, { authentic: true, ...presented }, at(seconds), policy)).toEqual(
      expected,
    );
  });

  it("has no grace period with REFRESH_REUSE_GRACE = 0", () => {
    expect(decideRefresh(base, { generation: 4, authentic: true }, at(100), { ...policy, reuseGrace: 0 })).toEqual({
      outcome: "theft",
    });
  });

  const states = fc.record({
    generation: fc.integer({ min: 0, max: 50 }),
    rotatedAt: fc.option(fc.integer({ min: 0, max: 2_000 }).map(at), { nil: null }),
    retiredBelow: fc.integer({ min: 0, max: 50 }),
    lastUsedAt: fc.integer({ min: 0, max: 2_000 }).map(at),
    expiresAt: fc.integer({ min: 0, max: 4_000 }).map(at),
    endedAt: fc.option(fc.integer({ min: 0, max: 2_000 }).map(at), { nil: null }),
  });
  const presented = fc.record({ generation: fc.integer({ min: 0, max: 60 }), authentic: fc.boolean() });
  const now = fc.integer({ min: 0, max: 5_000 }).map(at);

  it("never lets a forged token, or a token of a dead session, do anything", () => {
    fc.assert(
      fc.property(states, presented, now, (state, token, time) => {
        const decision = decideRefresh(state, token, time, policy);
        if (!token.authentic || token.generation > state.generation) {
          expect(decision).toEqual({ outcome: "invalid", reason: "FORGED" });
        } else if (!isSessionActive(state, time)) {
          expect(decision.outcome).toBe("invalid");
        }
      }),
    );
  });

  it("rotates only the current generation, into the next one, and hands out nothing older than current", () => {
    fc.assert(
      fc.property(states, presented, now, (state, token, time) => {
        const decision = decideRefresh(state, token, time, policy);
        if (decision.outcome === "rotate") {
          expect(token.generation).toBe(state.generation);
          expect(decision.generation).toBe(state.generation + 1);
          expect(time.getTime()).toBeLessThan(refreshTokenExpiry(state, policy).getTime());
        }
        if (decision.outcome === "grace") {
          expect(decision.generation).toBe(state.generation);
          expect(token.generation).toBe(state.generation - 1);
          expect(token.generation).toBeGreaterThanOrEqual(state.retiredBelow);
        }
      }),
    );
  });

  it("calls an authentic earlier token theft exactly when it is outside the grace rule and not retired", () => {
    fc.assert(
      fc.property(states, presented, now, (state, token, time) => {
        const decision = decideRefresh(state, token, time, policy);
        // Idle or not: an idle session's earlier token is theft all the same.
        const usable =
          token.authentic &&
          token.generation < state.generation &&
          token.generation >= state.retiredBelow &&
          isSessionActive(state, time);
        const inGrace =
          token.generation === state.generation - 1 &&
          state.rotatedAt !== null &&
          time.getTime() - state.rotatedAt.getTime() < policy.reuseGrace * 1000;
        expect(decision.outcome === "theft").toBe(usable && !inGrace);
      }),
    );
  });
});

describe("decideLogout", () => {
  it.each([
    ["the current token ends the session", { generation: 5, authentic: true }, "end"],
    ["an earlier, not retired token ends it too", { generation: 3, authentic: true }, "end"],
    ["a forged token changes nothing", { generation: 5, authentic: false }, "invalid"],
    ["a generation never issued changes nothing", { generation: 9, authentic: true }, "invalid"],
    ["a retired token changes nothing", { generation: 2, authentic: true }, "retired"],
  ] as const)("%s", (_name, token, outcome) => {
    expect(decideLogout({ generation: 5, retiredBelow: 3 }, token)).toEqual({ outcome });
  });
});

describe("isSessionActive and refreshTokenExpiry (§5)", () => {
  it("is active until it ends or reaches its absolute end, idle or not", () => {
    expect(isSessionActive({ endedAt: null, expiresAt: at(10) }, at(9))).toBe(true);
    expect(isSessionActive({ endedAt: null, expiresAt: at(10) }, at(10))).toBe(false);
    expect(isSessionActive({ endedAt: at(5), expiresAt: at(10) }, at(6))).toBe(false);
  });

  it("ends the refresh token's idle lifetime at the session's absolute end at the latest", () => {
    expect(refreshTokenExpiry({ lastUsedAt: at(0), expiresAt: at(5_000) }, policy)).toEqual(at(1_000));
    expect(refreshTokenExpiry({ lastUsedAt: at(4_500), expiresAt: at(5_000) }, policy)).toEqual(at(5_000));
  });
});

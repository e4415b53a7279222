import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_DATABASE } from "./helpers/database";
import {
  errorCode,
  type GraphQLResponse,
  gql,
  LOGOUT,
  me,
  newCredentials,
  PAYLOAD,
  refresh,
  register,
  type Tokens,
} from "./helpers/graphql";
import { decodePart } from "./helpers/jwt";
import { startServer, type TestServer } from "./helpers/server";

// BEHAVIOUR.md §6 (with the §5 rules on access tokens it relies on) as a
// model-based test: fast-check draws short sequences of refresh, replay,
// logout, password-change and clock moves; each runs against the real server
// over HTTP, and every answer is checked against the small reference model
// below. The model is written from BEHAVIOUR.md, not from src/auth/rotation.ts:
// a copy of the code under test would prove nothing.
//
// Time. The server's clock is real time plus the offsets the test adds, so no
// moment is known exactly. The model records, for every event, the span of
// the server's clock around the request that caused it (read just before the
// request and just after its answer), and decides "had N seconds passed?"
// from two such spans: certainly yes, certainly no, or "straddles" when the
// spans say both. Time only moves forward, so moving the clock by exactly a
// lifetime is "certainly yes", and by a lifetime minus one second "certainly
// no" unless a request took a whole second: exact boundaries are tested, not
// avoided. A run that straddles a boundary stops there (its checks so far
// stand) and is counted, never guessed. Access tokens follow §5: valid before
// `exp`, EXPIRED from `exp` + 5 s, and either answer in between (the spec
// allows at most 5 s of skew, not exactly 5 s); the model follows the answer.
//
// Lifetimes are short so every rule is reachable in a few commands: grace
// 10 s, access token 60 s, idle lifetime 120 s, absolute end 150 s (shorter
// than the idle lifetime plus one rotation, so a session still in use meets
// it). Commands move the clock by fixed amounts around those numbers, or to
// just before, at or just after a boundary of the session's own history.
// REFRESH_MODEL_RUNS=5000 runs longer.

const GRACE = 10;
const ACCESS_TTL = 60;
const REFRESH_TTL = 120;
const MAX_AGE = 150;
const SKEW = 5;
const PASSWORDS = ["correct horse battery staple", "another long passphrase here"] as const;
const CHANGE_PASSWORD = `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ${PAYLOAD} } }`;
/**
 * Clock moves: around the grace period (most often: it is the narrowest window), around the
 * access-token lifetime and its skew allowance, and around the idle lifetime; MAX_AGE is reached by sums.
 */
const advanceArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(1, GRACE - 1, GRACE, GRACE + 1) },
  { weight: 2, arbitrary: fc.constantFrom(30, ACCESS_TTL - 1, ACCESS_TTL + SKEW + 1, 100) },
  { weight: 1, arbitrary: fc.constantFrom(REFRESH_TTL - 1, REFRESH_TTL, REFRESH_TTL + 1) },
);
const NUM_RUNS = Number(process.env.REFRESH_MODEL_RUNS ?? 300);

type Command =
  /** refreshToken(T) with the session's current token, or with the i-th token it was ever given (mod how many). */
  | { kind: "rotate"; token: number | "current" }
  /** refreshToken(T) with the token exchanged last (the lost-response retry). */
  | { kind: "replay" }
  | { kind: "logout"; token: number }
  | { kind: "changePassword" }
  | { kind: "advance"; seconds: number }
  /**
   * Moves the clock to `delta` seconds around where the model puts a boundary: the end of the grace
   * period of the last exchange, of the idle lifetime, or the session's absolute end (never backwards).
   */
  | { kind: "advanceTo"; boundary: Boundary; delta: -1 | 0 | 1 };

type Boundary = "grace" | "idle" | "end";

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<Command>({ kind: "rotate", token: "current" }) },
  { weight: 3, arbitrary: fc.nat(19).map((token): Command => ({ kind: "rotate", token })) },
  { weight: 4, arbitrary: fc.constant<Command>({ kind: "replay" }) },
  { weight: 1, arbitrary: fc.nat(19).map((token): Command => ({ kind: "logout", token })) },
  { weight: 2, arbitrary: fc.constant<Command>({ kind: "changePassword" }) },
  { weight: 5, arbitrary: advanceArb.map((seconds): Command => ({ kind: "advance", seconds })) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("advanceTo" as const),
      boundary: fc.oneof(
        { weight: 3, arbitrary: fc.constant<Boundary>("grace") },
        { weight: 2, arbitrary: fc.constant<Boundary>("idle") },
        { weight: 1, arbitrary: fc.constant<Boundary>("end") },
      ),
      delta: fc.constantFrom<-1 | 0 | 1>(-1, 0, 1),
    }),
  },
);

// ---------------------------------------------------------------------------
// The reference model.

/** The server's clock (ms) just before a request was sent and just after its answer came: the event lies within. */
interface Span {
  lo: number;
  hi: number;
}

interface Issued {
  token: string;
  /** `refreshTokenExpiresAt` as the server stated it when it issued this token. */
  expiresAt: string;
}

interface Model {
  userId: string;
  sid: string;
  /** Index into PASSWORDS of the current password. */
  password: number;
  /** Every refresh token the session was given, oldest first: a token's index is its place in the one chain. */
  chain: Issued[];
  /** Tokens below this index were retired by a password change (§6.6). */
  retiredBelow: number;
  /** When chain[last - 1] was exchanged for chain[last]; null when chain[last] came from sign-in or a password change. */
  exchangedAt: Span | null;
  /** Start of the idle lifetime: the last rotation, sign-in or password change (the grace path does not count). */
  lastUsed: Span;
  /** Sign-in: the absolute end is MAX_AGE after it. */
  created: Span;
  ended: boolean;
  /** The newest access token handed out, and its `exp`. */
  access: { token: string; exp: number };
  /** Each exchanged token and what it was exchanged for: one successor each, or the session forked. */
  successor: Map<string, string>;
  /** What was done and what the model expected, for the failure message. */
  trace: string[];
}

/** Raised when the spans cannot tell which side of a boundary the server was on. */
class Straddles extends Error {}

/** Whether `seconds` had passed since the event in `since` when the server handled the request in `at`. */
function passed(since: Span, at: Span, seconds: number, what: string): boolean {
  const ms = seconds * 1000;
  if (at.lo - since.hi >= ms) return true;
  if (at.hi - since.lo < ms) return false;
  throw new Straddles(`${what}: ${seconds} s boundary inside [${at.lo - since.hi}, ${at.hi - since.lo}] ms`);
}

const current = (m: Model) => m.chain.length - 1;

/** §5: not ended and before its absolute end (idle or not). */
const isActive = (m: Model, at: Span) => !m.ended && !passed(m.created, at, MAX_AGE, "absolute end");

type RefreshOutcome = "rotate" | "grace" | "reused" | "ended" | "expired" | "retired" | "idle";

/** BEHAVIOUR.md §6.2-§6.6 for `refreshToken(chain[k])`. */
function predictRefresh(m: Model, k: number, at: Span): RefreshOutcome {
  // Ended (logout, theft): every token of the session stops working (§6.4), and
  // past its absolute end a session is over (§5, §6.2).
  if (m.ended) return "ended";
  if (passed(m.created, at, MAX_AGE, "absolute end")) return "expired";
  // Retired by a password change: refused, not theft, the session stays (§6.6).
  if (k < m.retiredBelow) return "retired";
  // Left unused for the idle lifetime, the current token is refused and
  // nothing changes (§6.2); an earlier token is still theft, for the
  // session's whole life (§6.4). The grace window is shorter than the idle
  // lifetime, so the grace path can never be idle here.
  if (k === current(m)) return passed(m.lastUsed, at, REFRESH_TTL, "idle lifetime") ? "idle" : "rotate"; // §6.2
  // §6.3: the token just exchanged, within the grace period of that exchange
  // (its successor is still current, or k would not be current - 1).
  if (k === current(m) - 1 && m.exchangedAt !== null && !passed(m.exchangedAt, at, GRACE, "grace")) return "grace";
  return "reused"; // §6.4: any other earlier token
}

// ---------------------------------------------------------------------------
// Driving the server.

const stats: Record<string, number> = {};
const count = (key: string) => {
  stats[key] = (stats[key] ?? 0) + 1;
};
/** Records what the model predicts, before the answer is checked against it. */
const expecting = (m: Model, outcome: string) => {
  count(outcome);
  m.trace.push(`  model: ${outcome}`);
};

async function timed<T>(server: TestServer, request: () => Promise<T>): Promise<{ r: T; at: Span }> {
  const lo = server.clock.now().getTime();
  const r = await request();
  return { r, at: { lo, hi: server.clock.now().getTime() } };
}

function expectRefused(r: GraphQLResponse, code: string, reason?: string) {
  expect(r.status).toBe(200);
  expect(r.body.data ?? null).toBeNull();
  if (reason === undefined) expect(errorCode(r)).toBe(code);
  else expect(r.body.errors?.[0]?.extensions).toEqual({ code, reason });
}

function payloadOf(r: GraphQLResponse, field: string): Tokens {
  expect(r.status).toBe(200);
  expect(r.body.errors).toBeUndefined();
  const tokens = r.body.data?.[field] as Tokens | undefined;
  if (!tokens) throw new Error(`no ${field} payload: ${r.text}`);
  return tokens;
}

/** §5: a new access token of this user and session, iat from the server's clock, exp = iat + ACCESS_TOKEN_TTL. */
function acceptAccessToken(m: Model, tokens: Tokens, at: Span) {
  const claims = decodePart(tokens.accessToken, 1);
  expect(claims.sub).toBe(m.userId);
  expect(claims.sid).toBe(m.sid);
  expect(claims.iat).toBeGreaterThanOrEqual(Math.floor(at.lo / 1000));
  expect(claims.iat).toBeLessThanOrEqual(Math.floor(at.hi / 1000));
  expect(claims.exp).toBe(claims.iat + ACCESS_TTL);
  m.access = { token: tokens.accessToken, exp: claims.exp };
}

/** §6.2: a fresh idle lifetime from now, never past the session's absolute end. */
function expectFreshExpiry(m: Model, tokens: Tokens, at: Span) {
  const expiresAt = Date.parse(tokens.refreshTokenExpiresAt);
  expect(expiresAt).toBeGreaterThanOrEqual(Math.min(at.lo + REFRESH_TTL * 1000, m.created.lo + MAX_AGE * 1000));
  expect(expiresAt).toBeLessThanOrEqual(Math.min(at.hi + REFRESH_TTL * 1000, m.created.hi + MAX_AGE * 1000));
}

async function presentForRefresh(server: TestServer, m: Model, k: number): Promise<string> {
  const presented = m.chain[k]!;
  const { r, at } = await timed(server, () => refresh(server.url, presented.token));
  const outcome = predictRefresh(m, k, at);
  expecting(m, `refresh.${outcome}`);
  switch (outcome) {
    case "rotate": {
      const next = payloadOf(r, "refreshToken");
      expect(m.chain.map((t) => t.token)).not.toContain(next.refreshToken);
      expect(m.successor.has(presented.token)).toBe(false);
      acceptAccessToken(m, next, at);
      expectFreshExpiry(m, next, at);
      m.successor.set(presented.token, next.refreshToken);
      m.chain.push({ token: next.refreshToken, expiresAt: next.refreshTokenExpiresAt });
      m.exchangedAt = at;
      m.lastUsed = at;
      break;
    }
    case "grace": {
      const again = payloadOf(r, "refreshToken");
      const now = m.chain[current(m)]!;
      // The very same next token, with the same idle lifetime (grace extends nothing), and a fresh access token.
      expect(again.refreshToken).toBe(now.token);
      expect(m.successor.get(presented.token)).toBe(again.refreshToken);
      expect(again.refreshTokenExpiresAt).toBe(now.expiresAt);
      acceptAccessToken(m, again, at);
      break;
    }
    case "reused":
      expectRefused(r, "REFRESH_TOKEN_REUSED");
      m.ended = true;
      break;
    default:
      expectRefused(r, "INVALID_REFRESH_TOKEN");
  }
  return outcome;
}

async function logout(server: TestServer, m: Model, k: number): Promise<void> {
  const r = await gql(server.url, LOGOUT, { token: m.chain[k]!.token });
  // Any token issued to the session and not retired ends it, again and again; a retired one changes nothing.
  if (k < m.retiredBelow) {
    expecting(m, "logout.retired");
    expectRefused(r, "INVALID_REFRESH_TOKEN");
    return;
  }
  expecting(m, m.ended ? "logout.again" : "logout.ends");
  expect(r.status).toBe(200);
  expect(r.body).toEqual({ data: { logout: true } });
  m.ended = true;
}

/** Whether the newest access token is certainly live, certainly expired, or in the skew allowance (either). */
function accessState(m: Model, at: Span): "valid" | "expired" | "either" {
  const exp = m.access.exp * 1000;
  if (at.hi < exp) return "valid";
  if (at.lo >= exp + SKEW * 1000) return "expired";
  return "either";
}

const isExpiredAnswer = (r: GraphQLResponse) =>
  r.body.errors?.[0]?.extensions?.code === "UNAUTHENTICATED" && r.body.errors[0].extensions.reason === "EXPIRED";

async function changePassword(server: TestServer, m: Model): Promise<void> {
  const input = { currentPassword: PASSWORDS[m.password], newPassword: PASSWORDS[1 - m.password] };
  const { r, at } = await timed(server, () => gql(server.url, CHANGE_PASSWORD, { input }, { token: m.access.token }));
  const access = accessState(m, at);
  if (access === "expired" || (access === "either" && isExpiredAnswer(r))) {
    expecting(m, "changePassword.expired");
    expectRefused(r, "UNAUTHENTICATED", "EXPIRED");
    return;
  }
  if (!isActive(m, at)) {
    expecting(m, "changePassword.revoked");
    expectRefused(r, "UNAUTHENTICATED", "REVOKED");
    return;
  }
  expecting(m, "changePassword.ok");
  const fresh = payloadOf(r, "changePassword");
  expect(m.chain.map((t) => t.token)).not.toContain(fresh.refreshToken);
  acceptAccessToken(m, fresh, at);
  expectFreshExpiry(m, fresh, at);
  // §6.6: every earlier token is retired, the grace path included; the session goes on with the new one.
  m.chain.push({ token: fresh.refreshToken, expiresAt: fresh.refreshTokenExpiresAt });
  m.retiredBelow = current(m);
  m.exchangedAt = null;
  m.lastUsed = at;
  m.password = 1 - m.password;
}

/** After every command: the newest access token works exactly while the session is active (§5). */
async function expectAccessAsModelled(server: TestServer, m: Model): Promise<void> {
  const { r, at } = await timed(server, () => me(server.url, m.access.token));
  const access = accessState(m, at);
  if (access === "expired" || (access === "either" && isExpiredAnswer(r))) {
    expecting(m, "me.expired");
    expectRefused(r, "UNAUTHENTICATED", "EXPIRED");
    return;
  }
  if (!isActive(m, at)) {
    expecting(m, "me.revoked");
    expectRefused(r, "UNAUTHENTICATED", "REVOKED");
    return;
  }
  expecting(m, "me.ok");
  expect(r.status).toBe(200);
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data?.me.id).toBe(m.userId);
}

/** What the model holds at all times: one chain, retirement never ahead of it, no token issued twice. */
function expectModelInvariants(m: Model) {
  expect(m.retiredBelow).toBeLessThanOrEqual(current(m));
  expect(new Set(m.chain.map((t) => t.token)).size).toBe(m.chain.length);
  // Only the current token has no successor: every successor is the next link of the one chain.
  for (const [from, to] of m.successor) {
    const k = m.chain.findIndex((t) => t.token === from);
    expect(m.chain[k + 1]?.token).toBe(to);
  }
}

async function run(server: TestServer, commands: Command[]): Promise<void> {
  const credentials = { ...newCredentials("model"), password: PASSWORDS[0] };
  const { r: user, at } = await timed(server, () => register(server.url, credentials));
  const m: Model = {
    userId: user.user.id,
    sid: decodePart(user.accessToken, 1).sid,
    password: 0,
    chain: [{ token: user.refreshToken, expiresAt: user.refreshTokenExpiresAt }],
    retiredBelow: 0,
    exchangedAt: null,
    lastUsed: at,
    created: at,
    ended: false,
    access: { token: "", exp: 0 },
    successor: new Map(),
    trace: [],
  };
  acceptAccessToken(m, user, at);
  expectFreshExpiry(m, user, at);

  const { trace } = m;
  const step = async (label: string, action: () => Promise<unknown>) => {
    trace.push(label);
    await action();
    expectModelInvariants(m);
    await expectAccessAsModelled(server, m);
  };
  const token = (i: number) => i % m.chain.length;

  try {
    for (const command of commands) {
      switch (command.kind) {
        case "rotate": {
          const k = command.token === "current" ? current(m) : token(command.token);
          await step(`Rotate(#${k} of ${m.chain.length})`, () => presentForRefresh(server, m, k));
          break;
        }
        case "replay":
          if (current(m) === 0) trace.push("Replay: nothing exchanged yet");
          else await step(`Replay(#${current(m) - 1})`, () => presentForRefresh(server, m, current(m) - 1));
          break;
        case "logout": {
          const k = token(command.token);
          await step(`Logout(#${k} of ${m.chain.length})`, () => logout(server, m, k));
          break;
        }
        case "changePassword":
          await step("ChangePassword", () => changePassword(server, m));
          break;
        case "advance":
          server.clock.advance(command.seconds);
          await step(`Advance(${command.seconds})`, async () => {});
          break;
        case "advanceTo": {
          const [since, seconds] = {
            grace: [m.exchangedAt, GRACE],
            idle: [m.lastUsed, REFRESH_TTL],
            end: [m.created, MAX_AGE],
          }[command.boundary] as [Span | null, number];
          // The latest moment the event can have happened, plus the lifetime: from there on it has certainly passed.
          const ms = since === null ? 0 : since.hi + (seconds + command.delta) * 1000 - server.clock.now().getTime();
          if (ms <= 0) {
            trace.push(`AdvanceTo(${command.boundary} ${command.delta}): already past`);
            break;
          }
          server.clock.advance(ms / 1000);
          await step(`AdvanceTo(${command.boundary} ${command.delta}: ${ms} ms)`, async () => {});
          break;
        }
      }
    }

    // At the end: one live chain. The current token rotates if the session is
    // still usable; then no earlier token (newest first) yields a new token,
    // only the grace answer or a refusal; then the current token again.
    if (!m.ended) await step(`End: Rotate(#${current(m)})`, () => presentForRefresh(server, m, current(m)));
    const earlier = current(m);
    for (let k = earlier - 1; k >= 0; k--) {
      await step(`End: Rotate(#${k})`, async () => {
        const outcome = await presentForRefresh(server, m, k);
        expect(outcome).not.toBe("rotate");
        return outcome;
      });
    }
    expect(current(m)).toBe(earlier);
    await step(`End: Rotate(#${current(m)})`, () => presentForRefresh(server, m, current(m)));
    // Logout ends it (idempotent); the ended session's access token is REVOKED unless it has expired.
    await step(`End: Logout(#${current(m)})`, () => logout(server, m, current(m)));
    await step(`End: Rotate(#${current(m)})`, () => presentForRefresh(server, m, current(m)));
    await step(`End: Logout(#${current(m)})`, () => logout(server, m, current(m)));
  } catch (error) {
    if (error instanceof Straddles) {
      count("run.stoppedAtBoundary");
      return;
    }
    if (error instanceof Error) error.message += `\n  in the last of:\n    ${trace.join("\n    ")}`;
    throw error;
  }
  count("run.complete");
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    REFRESH_REUSE_GRACE: String(GRACE),
    ACCESS_TOKEN_TTL: String(ACCESS_TTL),
    REFRESH_TOKEN_TTL: String(REFRESH_TTL),
    SESSION_MAX_AGE: String(MAX_AGE),
  });
});
afterAll(async () => {
  await server?.close();
  console.log(`refresh model (${TEST_DATABASE}), ${NUM_RUNS} runs:`, JSON.stringify(stats, Object.keys(stats).sort()));
});

describe("§6 against a reference model", () => {
  it(`agrees with the model over ${NUM_RUNS} random command sequences`, { timeout: 240_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 15, size: "max" }), (commands) =>
        run(server, commands),
      ),
      { numRuns: NUM_RUNS },
    );
    // The generator reaches every outcome the model knows (else the runs above proved little).
    for (const outcome of ["rotate", "grace", "reused", "ended", "retired", "idle"]) {
      expect(stats[`refresh.${outcome}`] ?? 0, outcome).toBeGreaterThan(0);
    }
    expect(stats["changePassword.ok"] ?? 0).toBeGreaterThan(0);
    expect(stats["me.revoked"] ?? 0).toBeGreaterThan(0);
    // Runs cut short at a boundary the clock spans could not place: rare (a request taking a second), never most.
    expect(stats["run.stoppedAtBoundary"] ?? 0).toBeLessThan(NUM_RUNS / 10);
  });
});

import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  errorCode,
  type GraphQLResponse,
  gql,
  LOGIN,
  ME,
  me,
  newCredentials,
  REFRESH,
  REGISTER,
  register,
} from "./helpers/graphql";
import { type ServerProcess, spawnServer, tempDir } from "./helpers/process";
import { startServer, TEST_ENV, type TestServer } from "./helpers/server";

const login = (server: TestServer, email: string, password: string, headers: Record<string, string> = {}) =>
  gql(server.url, LOGIN, { email, password }, { headers });
const extensions = (r: GraphQLResponse) => r.body.errors?.[0]?.extensions;
const WRONG = "definitely the wrong password";
/**
 * Lock and failure window of the throttling tests. The server's clock, not a
 * sleep, passes it, so it need not be short; long, the runs of failures below
 * never outlast it however slow the machine.
 */
const LOCKOUT = 60;

describe(`login throttling (LOGIN_MAX_FAILURES=3, LOGIN_LOCKOUT_SECONDS=${LOCKOUT})`, () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ LOGIN_MAX_FAILURES: "3", LOGIN_LOCKOUT_SECONDS: `${LOCKOUT}`, TRUST_PROXY: "true" });
  });
  afterAll(() => server.close());

  it("locks an email for an address after 3 failures, refuses even the right password, then lets it in after the window", async () => {
    const user = await register(server.url);
    for (let i = 0; i < 3; i++) expect(errorCode(await login(server, user.email, WRONG))).toBe("INVALID_CREDENTIALS");
    const locked = await login(server, user.email, user.password);
    expect(locked.status).toBe(200);
    expect(locked.body.data ?? null).toBeNull();
    expect(extensions(locked)).toMatchObject({ code: "RATE_LIMITED" });
    expect(extensions(locked)?.retryAfter).toBeGreaterThanOrEqual(LOCKOUT - 1);
    expect(extensions(locked)?.retryAfter).toBeLessThanOrEqual(LOCKOUT);
    expect(locked.text).not.toMatch(/accessToken"\s*:\s*"/);

    // Other emails from the same address are unaffected.
    const other = await register(server.url);
    expect(errorCode(await login(server, other.email, other.password))).toBeUndefined();

    // Refused attempts do not extend the lock: still locked 2 s before its end, open at its end.
    server.clock.advance(LOCKOUT - 2);
    const almost = await login(server, user.email, user.password);
    expect(errorCode(almost)).toBe("RATE_LIMITED");
    expect(extensions(almost)?.retryAfter).toBeLessThanOrEqual(2);
    server.clock.advance(2);
    expect(errorCode(await login(server, user.email, user.password))).toBeUndefined();
  });

  it("resets the count on success", async () => {
    const user = await register(server.url);
    for (let i = 0; i < 2; i++) await login(server, user.email, WRONG);
    expect(errorCode(await login(server, user.email, user.password))).toBeUndefined();
    for (let i = 0; i < 2; i++) expect(errorCode(await login(server, user.email, WRONG))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await login(server, user.email, user.password))).toBeUndefined();
  });

  it("behaves identically for an email that has no account", async () => {
    const known = await register(server.url);
    const unknown = newCredentials("ghost").email;
    const trace = async (email: string) => {
      const out: unknown[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await login(server, email, WRONG);
        out.push({ status: r.status, message: r.body.errors?.[0]?.message, code: errorCode(r) });
      }
      return out;
    };
    const [a, b] = [await trace(known.email), await trace(unknown)];
    expect(a).toEqual(b);
    expect(a.map((x) => (x as { code: string }).code)).toEqual([
      "INVALID_CREDENTIALS",
      "INVALID_CREDENTIALS",
      "INVALID_CREDENTIALS",
      "RATE_LIMITED",
      "RATE_LIMITED",
    ]);
  });

  it("counts per address, and per email across addresses at 10×", async () => {
    const user = await register(server.url);
    const from = (ip: string) => ({ "x-forwarded-for": ip });
    for (let i = 0; i < 3; i++) await login(server, user.email, WRONG, from("198.51.100.1"));
    expect(errorCode(await login(server, user.email, user.password, from("198.51.100.1")))).toBe("RATE_LIMITED");
    // The owner on another network still gets in.
    expect(errorCode(await login(server, user.email, user.password, from("203.0.113.9")))).toBeUndefined();

    // 30 failures spread over many addresses lock the email everywhere.
    for (let i = 0; i < 30; i++) await login(server, user.email, WRONG, from(`192.0.2.${(i % 9) + 10}`));
    expect(errorCode(await login(server, user.email, user.password, from("203.0.113.200")))).toBe("RATE_LIMITED");
  });

  it("survives a restart: the state is in the database", async () => {
    const user = await register(server.url);
    for (let i = 0; i < 3; i++) await login(server, user.email, WRONG);
    const again = await startServer(
      { LOGIN_MAX_FAILURES: "3", LOGIN_LOCKOUT_SECONDS: `${LOCKOUT}` },
      server.databaseUrl,
      server.clock,
    );
    try {
      expect(errorCode(await login(again, user.email, user.password))).toBe("RATE_LIMITED");
    } finally {
      await again.close();
    }
  });
});

/** The auth events in some servers' JSON log lines, as records. */
function eventsIn(lines: string[]): Array<Record<string, unknown>> {
  return lines
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((r) => typeof r.event === "string");
}

/**
 * How many passwords of `userId` the servers checked and found wrong: each
 * verification that fails logs one failure event (login or changePassword),
 * and nothing else does.
 */
function wrongPasswordsChecked(lines: string[], userId: string): number {
  return eventsIn(lines).filter((e) => e.userId === userId && e.reason === "WRONG_PASSWORD").length;
}

const CHANGE_PASSWORD = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { accessToken } }";
const OUTCOMES = ["INVALID_CREDENTIALS", "RATE_LIMITED", "OK"];
const MAX = 5;
const THROTTLE_ENV = { LOGIN_MAX_FAILURES: `${MAX}`, LOGIN_LOCKOUT_SECONDS: `${LOCKOUT}`, TRUST_PROXY: "true" };

/**
 * One round of the attack: a new account, then `count` logins for it at once,
 * spread over the instances at `urls`, from `addressOf(i)`; the `rightAt`-th
 * sends the right password, the others wrong ones.
 */
async function race(urls: string[], count: number, rightAt: number, addressOf: (i: number) => string) {
  const user = await register(urls[0]!);
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      gql(
        urls[i % urls.length]!,
        LOGIN,
        { email: user.email, password: i === rightAt ? user.password : `${WRONG} ${i}` },
        { headers: { "x-forwarded-for": addressOf(i) } },
      ),
    ),
  );
  const codes = results.map((r) => errorCode(r) ?? (r.body.data?.login ? "OK" : "NO DATA"));
  expect(
    codes.every((c) => OUTCOMES.includes(c)),
    codes.join(),
  ).toBe(true);
  return {
    user,
    results,
    codes,
    right: codes[rightAt],
    wrongChecked: codes.filter((c) => c === "INVALID_CREDENTIALS").length,
    signedIn: codes.filter((c) => c === "OK").length,
  };
}

/**
 * 30 logins at once from one address, the right password among them. What
 * must hold every round: if nobody signed in, exactly MAX wrong passwords were
 * checked, the right one was refused without a check, no token left, and the
 * address stays locked. If the right password did take one of the first MAX
 * places, it signed in and, as any success does, forgave the failures from
 * that address that took their places before it: then fewer than MAX were
 * checked before it and at most MAX after it.
 */
async function expectOneAddressRound(urls: string[], logs: () => Promise<string[]>, rightAt: number) {
  const address = "198.51.100.7";
  const r = await race(urls, 30, rightAt, () => address);
  // The servers' own record agrees: one failed verification per INVALID_CREDENTIALS.
  expect(wrongPasswordsChecked(await logs(), r.user.user.id)).toBe(r.wrongChecked);
  if (r.signedIn === 0) {
    expect(r.wrongChecked, r.codes.join()).toBe(MAX);
    expect(r.right).toBe("RATE_LIMITED");
    for (const response of r.results) expect(response.text).not.toMatch(/accessToken"\s*:\s*"/);
    const again = await gql(
      urls[1 % urls.length]!,
      LOGIN,
      { email: r.user.email, password: r.user.password },
      { headers: { "x-forwarded-for": address } },
    );
    expect(errorCode(again)).toBe("RATE_LIMITED");
    return "refused";
  }
  expect(r.signedIn).toBe(1);
  expect(r.right).toBe("OK");
  expect(r.wrongChecked, r.codes.join()).toBeLessThanOrEqual(2 * MAX - 1);
  return "signed in";
}

/**
 * 60 wrong logins at once from 60 addresses, and the right password from a
 * 61st: at most 10 × MAX passwords are checked for the account. A success
 * forgives only its own address's places, so this holds either way.
 */
async function expectManyAddressesRound(urls: string[], logs: () => Promise<string[]>, rightAt: number) {
  const r = await race(urls, 61, rightAt, (i) => `203.0.113.${i + 1}`);
  expect(wrongPasswordsChecked(await logs(), r.user.user.id)).toBe(r.wrongChecked);
  expect(r.wrongChecked).toBeLessThanOrEqual(10 * MAX);
  if (r.signedIn === 0) {
    expect(r.wrongChecked).toBe(10 * MAX);
    expect(r.right).toBe("RATE_LIMITED");
    // Locked for the email everywhere: a new address gets nothing checked either.
    const elsewhere = await gql(
      urls[0]!,
      LOGIN,
      { email: r.user.email, password: r.user.password },
      { headers: { "x-forwarded-for": "192.0.2.200" } },
    );
    expect(errorCode(elsewhere)).toBe("RATE_LIMITED");
  }
}

describe(`login throttling under concurrency (LOGIN_MAX_FAILURES=${MAX}, BEHAVIOUR.md §10)`, () => {
  let instances: TestServer[];
  const at = (i: number) => instances[i % instances.length]!;
  const urls = () => instances.map((s) => s.url);
  const logs = async () => instances.flatMap((s) => s.logs);

  beforeAll(async () => {
    // Three instances, each with its own connection pool, on one database; one clock for all.
    const first = await startServer(THROTTLE_ENV);
    instances = [first];
    for (let i = 0; i < 2; i++) instances.push(await startServer(THROTTLE_ENV, first.databaseUrl, first.clock));
  });
  afterAll(() => Promise.all(instances.map((s) => s.close())));

  it(`checks at most ${MAX} passwords of 30 sent at once from one address, over 3 instances, and refuses the right one once ${MAX} wrong ones took their places (20 rounds)`, async () => {
    const outcomes: string[] = [];
    // The right password goes out 21st in most rounds (the attack), among the first in some.
    for (let round = 0; round < 20; round++)
      outcomes.push(await expectOneAddressRound(urls(), logs, round % 4 === 3 ? round % 7 : 20));
    expect(outcomes).toContain("refused");
  });

  it(`checks at most ${10 * MAX} passwords of 60 sent at once from 60 addresses (the account-wide cap), over 3 instances`, async () => {
    for (let round = 0; round < 5; round++) await expectManyAddressesRound(urls(), logs, 55 - round);
  });

  it(`counts wrong current passwords in changePassword: of 30 at once, at most ${MAX} are checked, and login is locked too`, async () => {
    const user = await register(at(0).url);
    const from = { "x-forwarded-for": "198.51.100.20" };
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        gql(
          at(i).url,
          CHANGE_PASSWORD,
          { i: { currentPassword: `${WRONG} ${i}`, newPassword: "a brand new passphrase" } },
          { token: user.accessToken, headers: from },
        ),
      ),
    );
    const codes = results.map((r) => errorCode(r));
    expect(codes.filter((c) => c === "INVALID_CREDENTIALS")).toHaveLength(MAX);
    expect(codes.filter((c) => c === "RATE_LIMITED")).toHaveLength(30 - MAX);
    expect(wrongPasswordsChecked(await logs(), user.user.id)).toBe(MAX);
    // The same count as login's: the right password is refused there, and here.
    expect(errorCode(await login(at(1), user.email, user.password, from))).toBe("RATE_LIMITED");
    const right = await gql(
      at(2).url,
      CHANGE_PASSWORD,
      { i: { currentPassword: user.password, newPassword: "a brand new passphrase" } },
      { token: user.accessToken, headers: from },
    );
    expect(errorCode(right)).toBe("RATE_LIMITED");
    // Another address is not locked by these; after the window this one is not either.
    expect(
      errorCode(await login(at(0), user.email, user.password, { "x-forwarded-for": "198.51.100.21" })),
    ).toBeUndefined();
    at(0).clock.advance(LOCKOUT);
    expect(errorCode(await login(at(0), user.email, user.password, from))).toBeUndefined();
  });

  it("counts wrong logins and wrong current passwords together, and a right current password forgives them", async () => {
    const user = await register(at(0).url);
    const from = { "x-forwarded-for": "198.51.100.30" };
    const change = (currentPassword: string) =>
      gql(
        at(1).url,
        CHANGE_PASSWORD,
        { i: { currentPassword, newPassword: "a brand new passphrase" } },
        { token: user.accessToken, headers: from },
      );
    for (let i = 0; i < MAX - 1; i++)
      expect(errorCode(await login(at(i), user.email, WRONG, from))).toBe("INVALID_CREDENTIALS");
    // The right current password: its failures so far are forgiven, like a login's.
    expect(errorCode(await change(user.password))).toBeUndefined();
    for (let i = 0; i < MAX - 1; i++) expect(errorCode(await change(WRONG))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await login(at(2), user.email, WRONG, from))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await login(at(0), user.email, "a brand new passphrase", from))).toBe("RATE_LIMITED");
  });
});

describe("login throttling over 3 server processes on one database", () => {
  // Separate processes: on SQLite too the attempts then really meet in the
  // database (in one process its synchronous driver runs them one by one).
  let db: TestServer;
  let processes: ServerProcess[];
  const urls = () => processes.map((p) => p.url);
  let sentinel = 0;
  /**
   * Every process's log so far. A process writes an event before it answers,
   * but its log reaches this process through a pipe that may lag the HTTP
   * answer; a pipe keeps order, so once a sentinel request's event arrives,
   * every earlier line of that process has arrived too.
   */
  const logs = async () => {
    for (const p of processes) {
      sentinel++;
      const ip = `100.64.${sentinel >> 8}.${sentinel & 255}`;
      await gql(
        p.url,
        LOGIN,
        { email: `sentinel.${sentinel}@example.com`, password: WRONG },
        { headers: { "x-forwarded-for": ip } },
      );
      await vi.waitFor(() => expect(p.output()).toContain(`"ip":"${ip}"`));
    }
    return processes.flatMap((p) => p.output().split("\n"));
  };

  beforeAll(async () => {
    db = await startServer(THROTTLE_ENV);
    const env = { ...TEST_ENV, ...THROTTLE_ENV, DATABASE_URL: db.databaseUrl };
    processes = await Promise.all([0, 1, 2].map(() => spawnServer(tempDir(), env)));
  });
  afterAll(() => Promise.all([db.close(), ...processes.map((p) => p.stop())]));

  it(`checks at most ${MAX} passwords of 30 sent at once from one address (10 rounds)`, async () => {
    const outcomes: string[] = [];
    for (let round = 0; round < 10; round++)
      outcomes.push(await expectOneAddressRound(urls(), logs, round % 5 === 4 ? 1 : 20));
    expect(outcomes).toContain("refused");
  });

  it(`checks at most ${10 * MAX} passwords of 60 sent at once from 60 addresses (3 rounds)`, async () => {
    for (let round = 0; round < 3; round++) await expectManyAddressesRound(urls(), logs, 55 - round);
  });
});

describe("throttle records", () => {
  it("name emails by a keyed pseudonym, not the email or its bare SHA-256, and keep counting across a SECRET_KEYS rotation", async () => {
    const oldKey = "1d".repeat(32);
    const newKey = "2e".repeat(32);
    const env = { LOGIN_MAX_FAILURES: "3", LOGIN_LOCKOUT_SECONDS: `${LOCKOUT}`, SECRET_KEYS: oldKey };
    const before = await startServer(env);
    const user = await register(before.url);
    try {
      for (let i = 0; i < 2; i++) expect(errorCode(await login(before, user.email, WRONG))).toBe("INVALID_CREDENTIALS");
      const rows = await before.sql<{ email_key: string }>("select email_key from login_attempts");
      expect(rows).toHaveLength(2);
      const sha256 = createHash("sha256").update(user.email).digest();
      for (const { email_key } of rows) {
        expect(email_key).not.toContain(user.email);
        expect(email_key).not.toContain(user.email.split("@")[0]);
        expect([sha256.toString("hex"), sha256.toString("base64url"), sha256.toString("base64")]).not.toContain(
          email_key,
        );
      }
    } finally {
      await before.close();
    }
    // The operator puts a new key first: the two failures made under the old key still count.
    const after = await startServer({ ...env, SECRET_KEYS: `${newKey},${oldKey}` }, before.databaseUrl, before.clock);
    try {
      expect(errorCode(await login(after, user.email, WRONG))).toBe("INVALID_CREDENTIALS");
      expect(errorCode(await login(after, user.email, user.password))).toBe("RATE_LIMITED");
      const keys = await after.sql<{ email_key: string }>("select distinct email_key from login_attempts");
      expect(keys).toHaveLength(2);
    } finally {
      await after.close();
    }
  });
});

describe("without TRUST_PROXY, X-Forwarded-For is ignored", () => {
  it("cannot be used to escape the login lock or the rate limit", async () => {
    const server = await startServer({ LOGIN_MAX_FAILURES: "2", AUTH_RATE_LIMIT_PER_MINUTE: "8" });
    try {
      server.clock.alignTo(60); // all 10 requests in one rate window
      const user = await register(server.url);
      for (let i = 0; i < 2; i++) await login(server, user.email, WRONG, { "x-forwarded-for": `10.9.8.${i}` });
      expect(errorCode(await login(server, user.email, user.password, { "x-forwarded-for": "10.9.8.77" }))).toBe(
        "RATE_LIMITED",
      );
      const codes: unknown[] = [];
      for (let i = 0; i < 6; i++) {
        codes.push(
          errorCode(await login(server, `spray${i}@example.com`, WRONG, { "x-forwarded-for": `172.16.0.${i}` })),
        );
      }
      expect(codes.at(-1)).toBe("RATE_LIMITED");
      // The next window counts afresh.
      server.clock.advance(60);
      expect(
        errorCode(await login(server, "spray.next@example.com", WRONG, { "x-forwarded-for": "172.16.0.99" })),
      ).toBe("INVALID_CREDENTIALS");
    } finally {
      await server.close();
    }
  });
});

describe("AUTH_RATE_LIMIT_PER_MINUTE=5", () => {
  it("limits register, login, refreshToken and changePassword together per address; `me` is not limited", async () => {
    const server = await startServer({ AUTH_RATE_LIMIT_PER_MINUTE: "5" });
    try {
      server.clock.alignTo(60); // all of it in one rate window
      const user = await register(server.url); // 1
      await login(server, user.email, user.password); // 2
      await gql(server.url, REFRESH, { token: user.refreshToken }); // 3
      await gql(server.url, REGISTER, newCredentials()); // 4
      await login(server, user.email, WRONG); // 5
      const limited = await gql(server.url, REGISTER, newCredentials()); // 6
      expect(extensions(limited)).toMatchObject({ code: "RATE_LIMITED" });
      expect(extensions(limited)?.retryAfter).toBeGreaterThanOrEqual(1);
      expect(extensions(limited)?.retryAfter).toBeLessThanOrEqual(60);
      const change = await gql(
        server.url,
        "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { accessToken } }",
        { i: { currentPassword: user.password, newPassword: "another long passphrase" } },
        { token: user.accessToken },
      );
      expect(errorCode(change)).toBe("RATE_LIMITED");
      for (let i = 0; i < 10; i++) expect((await me(server.url, user.accessToken)).body.data?.me.id).toBe(user.user.id);
      // The next window counts afresh.
      server.clock.advance(60);
      expect(errorCode(await gql(server.url, REGISTER, newCredentials()))).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});

describe("AUTH_RATE_LIMIT_PER_MINUTE and refreshToken (counted inside the rotation on SQLite, before it on PostgreSQL)", () => {
  it("counts every attempt (rotated, malformed, missing) and a refused one rotates nothing", async () => {
    const server = await startServer({ AUTH_RATE_LIMIT_PER_MINUTE: "4" });
    try {
      server.clock.alignTo(60); // all of it in one rate window
      const user = await register(server.url); // 1
      const rotated = await gql(server.url, REFRESH, { token: user.refreshToken }); // 2
      const next = rotated.body.data!.refreshToken.refreshToken;
      expect(errorCode(await gql(server.url, REFRESH, { token: "not a refresh token" }))).toBe("INVALID_REFRESH_TOKEN"); // 3
      expect(errorCode(await gql(server.url, REFRESH, {}))).toBe("INVALID_REFRESH_TOKEN"); // 4
      expect(errorCode(await gql(server.url, REFRESH, { token: next }))).toBe("RATE_LIMITED"); // 5
      // Past the reuse grace and in a new window: had the refused attempt rotated `next`,
      // presenting it again would now be reuse and end the session.
      server.clock.advance(60);
      const after = await gql(server.url, REFRESH, { token: next });
      expect(errorCode(after)).toBeUndefined();
      expect(after.body.data?.refreshToken.user.id).toBe(user.user.id);
    } finally {
      await server.close();
    }
  });
});

describe("GraphQL limits", () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    server = await startServer({ LOGIN_MAX_FAILURES: "5" });
    token = (await register(server.url)).accessToken;
  });
  afterAll(() => server.close());

  const expectValidationFailure = (r: GraphQLResponse, message?: RegExp) => {
    expect(r.status).toBe(400);
    expect(errorCode(r)).toBe("GRAPHQL_VALIDATION_FAILED");
    if (message) expect(r.body.errors?.map((e) => e.message).join("\n")).toMatch(message);
    expect(r.text).not.toMatch(/accessToken"\s*:\s*"/);
  };

  it("refuses 1000 aliased logins before any work: no token, no failure counted", async () => {
    const victim = await register(server.url);
    const aliases = Array.from({ length: 1000 }, (_, i) =>
      i === 500
        ? `a${i}: login(input: { email: "${victim.email}", password: "${victim.password}" }) { accessToken }`
        : `a${i}: login(input: { email: "${victim.email}", password: "guess ${i} guess guess" }) { accessToken }`,
    );
    const r = await gql(server.url, `mutation { ${aliases.join(" ")} }`);
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.text).not.toMatch(/eyJ/);
    // Not one attempt counted against the victim: five wrong passwords in a row still end in INVALID_CREDENTIALS.
    for (let i = 0; i < 4; i++) expect(errorCode(await login(server, victim.email, WRONG))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await login(server, victim.email, victim.password))).toBeUndefined();
  });

  it("allows one credential operation per document, aliases and fragments included", async () => {
    const user = await register(server.url);
    const creds = `input: { email: "${user.email}", password: "${user.password}" }`;
    expectValidationFailure(
      await gql(server.url, `mutation { a: login(${creds}) { accessToken } b: login(${creds}) { accessToken } }`),
      /at most one/,
    );
    expectValidationFailure(
      await gql(server.url, `mutation { login(${creds}) { accessToken } register(${creds}) { accessToken } }`),
      /at most one/,
    );
    expectValidationFailure(
      await gql(
        server.url,
        `mutation { ...F ... on Mutation { login(${creds}) { accessToken } } } fragment F on Mutation { login(${creds}) { accessToken } }`,
      ),
      /at most one/,
    );
    expect(errorCode(await gql(server.url, `mutation { login(${creds}) { accessToken } }`))).toBeUndefined();
  });

  it("caps aliases at 20", async () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: me { id }`).join(" ")} }`;
    expect((await gql(server.url, aliases(20), {}, { token })).body.errors).toBeUndefined();
    expectValidationFailure(await gql(server.url, aliases(21), {}, { token }), /Aliases limit/i);
  });

  it("caps depth at 10", async () => {
    let selection = "id";
    for (let i = 0; i < 11; i++) selection = `owner { ${selection} }`;
    expectValidationFailure(
      await gql(server.url, `{ notes { edges { node { ${selection} } } } }`, {}, { token }),
      /depth/i,
    );
  });

  it("caps directives, tokens and document length", async () => {
    expectValidationFailure(
      await gql(server.url, `{ __typename ${"@skip(if: false) ".repeat(50)} }`, {}, { token }),
      /Directives limit/i,
    );
    const manyTokens = await gql(server.url, `{ me { ${"id ".repeat(2_500)} } }`, {}, { token });
    expect(manyTokens.status).toBe(400);
    expect(manyTokens.text).toMatch(/more th[ae][nt] 2000 tokens/i);
    const long = await gql(server.url, `# ${"x".repeat(10_000)}\n{ me { id } }`, {}, { token });
    expect(long.status).toBe(400);
    expect(long.text).toMatch(/longer than 10000 characters/);
  });
});

describe("bounded password hashing", () => {
  it("refuses hashes beyond the queue with RATE_LIMITED instead of piling up, and `me` keeps answering", async () => {
    const server = await startServer({
      HASH_MAX_CONCURRENT: "1",
      HASH_MAX_QUEUED: "2",
      ARGON2_MEMORY_KIB: "16384",
      ARGON2_TIME_COST: "3",
    });
    try {
      const user = await register(server.url);
      const storm = Promise.all(Array.from({ length: 20 }, () => login(server, user.email, user.password)));
      const during = await me(server.url, user.accessToken);
      const results = await storm;
      expect(during.body.data?.me.id).toBe(user.user.id);
      expect(results.every((r) => r.status === 200)).toBe(true);
      const codes = results.map(errorCode);
      expect(codes.filter((c) => c === undefined).length).toBeGreaterThanOrEqual(1);
      // One runs, two wait: of 20 arriving together, the rest are turned away at once.
      expect(codes.filter((c) => c === "RATE_LIMITED").length).toBeGreaterThanOrEqual(1);
      expect(codes.every((c) => c === undefined || c === "RATE_LIMITED")).toBe(true);
      // Afterwards, logins work normally again.
      expect(errorCode(await login(server, user.email, user.password))).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});

describe("HTTP hardening", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ CORS_ORIGINS: "https://app.example.com, http://localhost:5173" });
  });
  afterAll(() => server.close());

  const preflight = (origin: string) =>
    fetch(`${server.url}/graphql`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });

  it("allows only listed origins, with credentials, and never reflects others", async () => {
    const evil = await preflight("https://evil.example");
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
    expect(evil.headers.get("access-control-allow-credentials")).toBeNull();
    const good = await preflight("https://app.example.com");
    expect(good.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(good.headers.get("access-control-allow-credentials")).toBe("true");
  });

  it("sends no cross-origin headers at all when CORS_ORIGINS is unset", async () => {
    const plain = await startServer();
    try {
      const r = await fetch(`${plain.url}/graphql`, {
        method: "OPTIONS",
        headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
      });
      expect(r.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await plain.close();
    }
  });

  it("sets nosniff and a JSON content type, and shows no framework banner", async () => {
    const r = await gql(server.url, ME);
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    expect(r.headers.get("content-type")).toMatch(/^application\/(graphql-response\+)?json; charset=utf-8/);
    expect(r.headers.get("x-powered-by")).toBeNull();
    // helmet's set, computed once at start (src/http/security.ts); outside production no CSP (the Sandbox page needs its CDN).
    expect(
      Object.fromEntries(
        ["strict-transport-security", "x-frame-options", "referrer-policy", "cross-origin-opener-policy"].map((h) => [
          h,
          r.headers.get(h),
        ]),
      ),
    ).toEqual({
      "strict-transport-security": "max-age=31536000; includeSubDomains",
      "x-frame-options": "SAMEORIGIN",
      "referrer-policy": "no-referrer",
      "cross-origin-opener-policy": "same-origin",
    });
    expect(r.headers.get("content-security-policy")).toBeNull();
  });

  it.each(["PUT", "DELETE", "PATCH"])("answers %s /graphql with 405", async (method) => {
    const r = await fetch(`${server.url}/graphql`, {
      method,
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("GET, POST, OPTIONS");
  });
});

describe("auth event log", () => {
  it("writes one structured record per event, with user id, address and outcome, and no secrets", async () => {
    const server = await startServer({ LOGIN_MAX_FAILURES: "1" });
    try {
      const creds = { email: `events.${Date.now()}@example.com`, password: "CANARY-PW events passphrase" };
      const user = await register(server.url, creds);
      await login(server, creds.email, "CANARY-PW wrong guess here");
      await login(server, creds.email, creds.password); // throttled now
      const rotated = await gql(server.url, REFRESH, { token: user.refreshToken });
      server.clock.advance(1); // REFRESH_REUSE_GRACE is 30 s
      await gql(server.url, REFRESH, { token: user.refreshToken }); // within grace: allowed
      await gql(server.url, REFRESH, { token: rotated.body.data!.refreshToken.refreshToken });
      await gql(server.url, REFRESH, { token: user.refreshToken }); // a successor was used: reuse
      await login(server, `x\r\n{"level":30,"event":"login","outcome":"success"}@example.com`, "whatever password");

      const records = server.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
      const events = records.filter((r) => typeof r.event === "string");
      const of = (event: string, outcome?: string) =>
        events.filter((e) => e.event === event && (!outcome || e.outcome === outcome));
      expect(of("register", "success")).toEqual([expect.objectContaining({ userId: user.user.id, ip: "127.0.0.1" })]);
      expect(of("login", "failure")[0]).toMatchObject({
        userId: user.user.id,
        reason: "WRONG_PASSWORD",
        ip: "127.0.0.1",
      });
      expect(of("login_throttled")).toHaveLength(1);
      expect(of("refresh", "success")).toHaveLength(3);
      expect(of("refresh_token_reused")).toEqual([expect.objectContaining({ userId: user.user.id, level: 40 })]);
      for (const e of events) expect(new Date(String(e.time)).toISOString()).toBe(e.time);
      // Nothing an attacker typed became a record of its own, and no secret reached the log.
      expect(of("login", "success")).toHaveLength(0);
      const raw = server.logs.join("");
      expect(raw).not.toContain("CANARY");
      expect(raw).not.toContain(user.refreshToken);
      expect(raw).not.toContain(creds.email);
    } finally {
      await server.close();
    }
  });
});

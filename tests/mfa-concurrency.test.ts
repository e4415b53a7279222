import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_DATABASE } from "./helpers/database";
import { errorCode, gql, LOGIN, register } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";
import { enrollTotp, loginForMfa, REAUTHENTICATE, verifyMfa } from "./helpers/totp";

// BEHAVIOUR.md §8 and §10: a code is accepted once however many requests
// carry it at once (on PostgreSQL across instances sharing the database and
// a clock), and wrong codes count toward the login throttle.

/** Servers sharing one database: three instances on PostgreSQL; on SQLite one (its writers take turns anyway). */
let servers: TestServer[];
beforeAll(async () => {
  const first = await startServer();
  servers = [first];
  if (TEST_DATABASE === "postgres") {
    for (let i = 0; i < 2; i++) servers.push(await startServer({}, first.databaseUrl, first.clock));
  }
});
afterAll(async () => {
  for (const s of servers ?? []) await s.close();
});

const ROUNDS = 6;
const AT_ONCE = 4;
const at = (i: number) => servers[i % servers.length] as TestServer;

async function enrolled() {
  const [first] = servers as [TestServer];
  const user = await register(first.url);
  return { ...user, ...(await enrollTotp(first.url, first.clock, user.accessToken)) };
}

describe(`concurrent uses of one code (${TEST_DATABASE}, ${TEST_DATABASE === "postgres" ? "3 instances" : "1 instance"})`, () => {
  it("one TOTP code on several sign-ins at once: exactly one succeeds, every round", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const user = await enrolled();
      const challenges = await Promise.all(Array.from({ length: AT_ONCE }, (_, i) => loginForMfa(at(i).url, user)));
      const code = user.app.next();
      const results = await Promise.all(challenges.map((c, i) => verifyMfa(at(i).url, c.mfaToken, code)));
      const outcomes = results.map((r) => (r.body.data?.verifyMfa ? "OK" : errorCode(r)));
      expect(outcomes.filter((o) => o === "OK")).toHaveLength(1);
      expect(outcomes.filter((o) => o !== "OK")).toEqual(Array(AT_ONCE - 1).fill("INVALID_CREDENTIALS"));
      for (const r of results) expect(r.status).toBe(200);
    }
  });

  it("one recovery code on several sign-ins at once: exactly one succeeds", async () => {
    for (let round = 0; round < ROUNDS / 2; round++) {
      const user = await enrolled();
      const challenges = await Promise.all(Array.from({ length: AT_ONCE }, (_, i) => loginForMfa(at(i).url, user)));
      const code = user.recoveryCodes[0] as string;
      const results = await Promise.all(challenges.map((c, i) => verifyMfa(at(i).url, c.mfaToken, code)));
      expect(results.filter((r) => r.body.data?.verifyMfa)).toHaveLength(1);
    }
  });

  it("one mfaToken completed at once with different right codes: one session", async () => {
    for (let round = 0; round < ROUNDS / 2; round++) {
      const user = await enrolled();
      const { mfaToken } = await loginForMfa(at(0).url, user);
      const codes = [user.app.next(), user.recoveryCodes[1] as string, user.recoveryCodes[2] as string];
      const results = await Promise.all(codes.map((code, i) => verifyMfa(at(i).url, mfaToken, code)));
      const outcomes = results.map((r) => (r.body.data?.verifyMfa ? "OK" : errorCode(r)));
      expect(outcomes.filter((o) => o === "OK")).toHaveLength(1);
      expect(outcomes.filter((o) => o !== "OK").every((o) => o === "INVALID_TOKEN")).toBe(true);
      const sessions = await at(0).sql<{ n: number }>("select count(*) as n from sessions where user_id = ?", [
        user.user.id,
      ]);
      // register's session and this one.
      expect(Number(sessions[0]?.n)).toBe(2);
    }
  });
});

describe("wrong codes and the login throttle", () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startServer({ LOGIN_MAX_FAILURES: "3", LOGIN_LOCKOUT_SECONDS: "900" });
  });
  afterAll(() => limited?.close());

  it("counts wrong codes with the password's own check: a right password forgives nothing until the code is right", async () => {
    const user = await register(limited.url);
    const { app } = await enrollTotp(limited.url, limited.clock, user.accessToken);
    const first = await loginForMfa(limited.url, user); // place 1 (the password), kept
    expect(errorCode(await verifyMfa(limited.url, first.mfaToken, "000000"))).toBe("INVALID_CREDENTIALS"); // 2
    const second = await loginForMfa(limited.url, user); // 3: the right password again, which forgave nothing
    const throttled = await verifyMfa(limited.url, second.mfaToken, "000000");
    expect(errorCode(throttled)).toBe("RATE_LIMITED");
    expect(throttled.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThanOrEqual(1);
    // Every sign-in of the email from this address is refused now, the right code and password too.
    expect(errorCode(await verifyMfa(limited.url, second.mfaToken, app.next()))).toBe("RATE_LIMITED");
    expect(errorCode(await gql(limited.url, LOGIN, { email: user.email, password: user.password }))).toBe(
      "RATE_LIMITED",
    );
    limited.clock.advance(901);
    const third = await loginForMfa(limited.url, user);
    expect((await verifyMfa(limited.url, third.mfaToken, app.next())).body.data?.verifyMfa).toBeTruthy();
    // The right code forgave the places: three more tries are there.
    const fourth = await loginForMfa(limited.url, user);
    expect(errorCode(await verifyMfa(limited.url, fourth.mfaToken, "000000"))).toBe("INVALID_CREDENTIALS");
    expect((await verifyMfa(limited.url, fourth.mfaToken, app.next())).body.data?.verifyMfa).toBeTruthy();
  });

  it("counts wrong codes and passwords of reauthenticate", async () => {
    const user = await register(limited.url);
    await enrollTotp(limited.url, limited.clock, user.accessToken);
    const reauth = (variables: Record<string, string>) =>
      gql(limited.url, REAUTHENTICATE, variables, { token: user.accessToken });
    expect(errorCode(await reauth({ code: "000000" }))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await reauth({ password: "not the right password" }))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await reauth({ code: "999999" }))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await reauth({ password: user.password }))).toBe("RATE_LIMITED");
  });
});

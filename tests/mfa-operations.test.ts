import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli";
import { errorCode, gql, LOGIN, me, register } from "./helpers/graphql";
import { startServer, TEST_ENV, TEST_SECRET_KEY, type TestServer } from "./helpers/server";
import { mailEnv, type SmtpSink, startSmtpSink } from "./helpers/smtp-sink";
import { enrollTotp, loginForMfa, SECOND_FACTORS, verifyMfa } from "./helpers/totp";

// BEHAVIOUR.md §8 for operators: SECRET_KEYS rotation with enrolled users,
// `npm run cli -- reset-mfa`, and maintenance of MFA challenges.

const NEW_KEY = "a1b2".repeat(16);

describe("rotating SECRET_KEYS with users who have an authenticator app", () => {
  it("keeps their codes working: old key first, then the new key first with the old listed, then the new alone for those who signed in", async () => {
    const before = await startServer({ SECRET_KEYS: TEST_SECRET_KEY });
    const { databaseUrl, clock } = before;
    const active = await register(before.url);
    const activeApp = (await enrollTotp(before.url, clock, active.accessToken)).app;
    const idle = await register(before.url);
    const idleApp = (await enrollTotp(before.url, clock, idle.accessToken)).app;
    const first = await loginForMfa(before.url, active);
    expect((await verifyMfa(before.url, first.mfaToken, activeApp.next())).body.data?.verifyMfa).toBeTruthy();
    await before.close();

    const rotating = await startServer({ SECRET_KEYS: `${NEW_KEY},${TEST_SECRET_KEY}` }, databaseUrl, clock);
    try {
      const during = await loginForMfa(rotating.url, active);
      expect((await verifyMfa(rotating.url, during.mfaToken, activeApp.next())).body.data?.verifyMfa).toBeTruthy();
      const idleDuring = await loginForMfa(rotating.url, idle);
      // A code of the idle user is checked too (and not used): its secret still opens under the old key.
      expect(errorCode(await verifyMfa(rotating.url, idleDuring.mfaToken, "000000"))).toBe("INVALID_CREDENTIALS");
    } finally {
      await rotating.close();
    }

    // The active user's secret was sealed again under the new key at its use; the idle user's was not.
    const after = await startServer({ SECRET_KEYS: NEW_KEY }, databaseUrl, clock);
    try {
      const later = await loginForMfa(after.url, active);
      expect((await verifyMfa(after.url, later.mfaToken, activeApp.next())).body.data?.verifyMfa).toBeTruthy();
      const stranded = await loginForMfa(after.url, idle);
      expect(errorCode(await verifyMfa(after.url, stranded.mfaToken, idleApp.next()))).toBe("INVALID_CREDENTIALS");
      expect(after.logs.join("\n")).toContain("TOTP_KEY_MISSING");
    } finally {
      await after.close();
    }
  });
});

describe("npm run cli -- reset-mfa <email>", () => {
  let sink: SmtpSink;
  let server: TestServer;
  beforeAll(async () => {
    sink = await startSmtpSink();
    server = await startServer(mailEnv(sink));
  });
  afterAll(async () => {
    await server?.close();
    await sink?.close();
  });

  const cliEnv = (): Record<string, string> => ({ ...TEST_ENV, ...mailEnv(sink), DATABASE_URL: server.databaseUrl });

  it("removes the app and recovery codes, queues the notice, and ends nothing else", async () => {
    const user = await register(server.url);
    await enrollTotp(server.url, server.clock, user.accessToken);
    const r = await runCli(cliEnv(), ["reset-mfa", user.email.toUpperCase()]);
    expect(r.stderr).toBe("");
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toMatch(/removed TOTP, RECOVERY_CODE of .*; a notice mail is queued; sessions are untouched/);
    // The server's worker sends what the CLI queued.
    const notice = await sink.waitFor((m) => m.to === user.email && /second factors were removed/i.test(m.subject));
    expect(notice.text.length).toBeGreaterThan(0);
    // The session is untouched; sign-in asks for no second factor any more.
    expect((await me(server.url, user.accessToken)).body.data?.me.id).toBe(user.user.id);
    expect(
      (await gql(server.url, SECOND_FACTORS, {}, { token: user.accessToken })).body.data?.me.secondFactors,
    ).toEqual([]);
    expect(
      (await gql(server.url, LOGIN, { email: user.email, password: user.password })).body.data?.login,
    ).toBeTruthy();
    expect(await server.sql("select id from recovery_codes where user_id = ?", [user.user.id])).toEqual([]);

    const again = await runCli(cliEnv(), ["reset-mfa", user.email]);
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toMatch(/had no second factor; nothing changed/);
  });

  it("needs the server's SECRET_KEYS to seal the notice, and changes nothing without it", async () => {
    const user = await register(server.url);
    await enrollTotp(server.url, server.clock, user.accessToken);
    const { SECRET_KEYS: _omitted, ...withoutKey } = cliEnv();
    const r = await runCli(withoutKey, ["reset-mfa", user.email]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SECRET_KEYS: missing/);
    expect(errorCode(await gql(server.url, LOGIN, { email: user.email, password: user.password }))).toBe(
      "MFA_REQUIRED",
    );
    const unknown = await runCli(cliEnv(), ["reset-mfa", "nobody@example.com"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/nobody@example\.com.*not found/);
    expect((await runCli(cliEnv(), ["reset-mfa"])).code).toBe(2);
  });
});

describe("maintenance", () => {
  it("deletes used and expired MFA challenges and keeps open ones", async () => {
    const server = await startServer();
    try {
      const user = await register(server.url);
      const { app } = await enrollTotp(server.url, server.clock, user.accessToken);
      const used = await loginForMfa(server.url, user);
      await verifyMfa(server.url, used.mfaToken, app.next());
      const expiring = await loginForMfa(server.url, user);
      server.clock.advance(301);
      const open = await loginForMfa(server.url, user);
      const run = () => server.app.services.maintenance.run(server.app.orm.em.fork());
      expect((await run()).mfaChallenges).toBe(2);
      expect(await server.sql("select id from mfa_challenges where user_id = ?", [user.user.id])).toHaveLength(1);
      expect(errorCode(await verifyMfa(server.url, expiring.mfaToken, app.next()))).toBe("INVALID_TOKEN");
      expect((await verifyMfa(server.url, open.mfaToken, app.next())).body.data?.verifyMfa).toBeTruthy();
    } finally {
      await server.close();
    }
  });
});

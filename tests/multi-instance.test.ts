import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestClock } from "./helpers/clock";
import { freshDatabaseUrl, TEST_DATABASE } from "./helpers/database";
import { errorCode, gql, LOGIN, me, newCredentials, PAYLOAD, refresh, register, type Tokens } from "./helpers/graphql";
import { type ServerProcess, spawnServer, tempDir } from "./helpers/process";
import { startServer, TEST_ENV } from "./helpers/server";

// Several stateless instances need a shared database server: PostgreSQL.
// (SQLite is the single-machine default; CI runs this file on PostgreSQL.)
describe.skipIf(TEST_DATABASE !== "postgres")("three instances on one PostgreSQL database", () => {
  let instances: ServerProcess[];
  const at = (i: number) => instances[i % instances.length]!.url;

  beforeAll(async () => {
    const DATABASE_URL = await freshDatabaseUrl();
    const env = { ...TEST_ENV, DATABASE_URL, LOGIN_MAX_FAILURES: "3", REFRESH_REUSE_GRACE: "30" };
    // The first applies the migrations; the others find them applied.
    instances = [await spawnServer(tempDir(), env)];
    instances.push(...(await Promise.all([spawnServer(tempDir(), env), spawnServer(tempDir(), env)])));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop()));
  });

  it("gives 20 concurrent presenters of one token, spread over the instances, byte-identical next tokens", async () => {
    for (let round = 0; round < 5; round++) {
      const user = await register(at(round));
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => refresh(at(i), user.refreshToken)));
      for (const r of results) {
        expect(r.status).toBe(200);
        expect(r.body.errors).toBeUndefined();
      }
      const issued = results.map((r) => r.body.data!.refreshToken);
      expect(new Set(issued.map((t) => t.refreshToken)).size).toBe(1);
      for (const [i, tokens] of issued.entries()) {
        expect((await me(at(i + 1), tokens.accessToken)).body.data?.me.id).toBe(user.user.id);
      }
      expect((await refresh(at(round + 1), issued[0]!.refreshToken)).body.errors).toBeUndefined();
    }
  });

  it("never deadlocks or leaves a pre-change token working when changePassword races refreshes (50 rounds)", async () => {
    const CHANGE = `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ${PAYLOAD} } }`;
    for (let round = 0; round < 50; round++) {
      const user = await register(at(round), newCredentials("race"));
      const second = (await refresh(at(round + 1), user.refreshToken)).body.data!.refreshToken;
      const newPassword = `a new passphrase for round ${round}`;
      const [changed, ...refreshes] = await Promise.all([
        gql<{ changePassword: Tokens }>(
          at(round),
          CHANGE,
          { input: { currentPassword: user.password, newPassword } },
          { token: second.accessToken },
        ),
        refresh(at(round + 1), second.refreshToken),
        refresh(at(round + 2), second.refreshToken), // one of the two takes the grace path
      ]);
      for (const r of [changed, ...refreshes]) {
        expect(r.status).toBe(200);
        expect(r.body.errors?.[0]?.extensions?.code ?? "OK").not.toBe("INTERNAL_SERVER_ERROR");
      }
      const fresh = changed.body.data?.changePassword;
      expect(fresh, changed.text).toBeDefined();
      // Every token from before the change, and any the racing refreshes got, is refused now.
      const before = [user.refreshToken, second.refreshToken];
      for (const r of refreshes) if (r.body.data?.refreshToken) before.push(r.body.data.refreshToken.refreshToken);
      for (const token of before) expect(errorCode(await refresh(at(round), token))).toBe("INVALID_REFRESH_TOKEN");
      // The session itself goes on with the fresh pair.
      expect((await refresh(at(round + 1), fresh!.refreshToken)).body.errors).toBeUndefined();
    }
  }, 120_000);

  it("ends the session everywhere when a rotated token comes back on another instance", async () => {
    const user = await register(at(0));
    const second = (await refresh(at(1), user.refreshToken)).body.data!.refreshToken;
    const third = (await refresh(at(2), second.refreshToken)).body.data!.refreshToken;
    expect(errorCode(await refresh(at(0), user.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
    for (let i = 0; i < 3; i++) {
      expect((await me(at(i), third.accessToken)).body.errors?.[0]?.extensions?.reason).toBe("REVOKED");
      expect(errorCode(await refresh(at(i), third.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
    }
  });

  it("refuses a session revoked on one instance on the others at the next request", async () => {
    const user = await register(at(0));
    const laptop = (await gql<{ login: Tokens }>(at(1), LOGIN, { email: user.email, password: user.password })).body
      .data!.login;
    const sid = JSON.parse(Buffer.from(laptop.accessToken.split(".")[1]!, "base64url").toString()).sid;
    expect((await me(at(2), laptop.accessToken)).body.data?.me.id).toBe(user.user.id);
    const revoked = await gql(
      at(0),
      "mutation($id: ID!) { revokeSession(id: $id) }",
      { id: sid },
      { token: user.accessToken },
    );
    expect(revoked.body.data?.revokeSession).toBe(true);
    expect((await me(at(2), laptop.accessToken)).body.errors?.[0]?.extensions?.reason).toBe("REVOKED");
    expect((await me(at(1), laptop.accessToken)).body.errors?.[0]?.extensions?.reason).toBe("REVOKED");
  });

  it("counts failed logins across instances", async () => {
    const user = await register(at(0));
    for (let i = 0; i < 3; i++) {
      expect(errorCode(await gql(at(i), LOGIN, { email: user.email, password: "a wrong password here" }))).toBe(
        "INVALID_CREDENTIALS",
      );
    }
    for (let i = 0; i < 3; i++) {
      expect(errorCode(await gql(at(i), LOGIN, { email: user.email, password: user.password }))).toBe("RATE_LIMITED");
    }
  });

  it("shares the auth rate limit across instances", async () => {
    // In-process instances (each its own pool on the shared database), so one
    // clock can put the test at the start of a rate window.
    const DATABASE_URL = await freshDatabaseUrl();
    const clock = new TestClock();
    clock.alignTo(60);
    const a = await startServer({ AUTH_RATE_LIMIT_PER_MINUTE: "4" }, DATABASE_URL, clock);
    const b = await startServer({ AUTH_RATE_LIMIT_PER_MINUTE: "4" }, DATABASE_URL, clock);
    try {
      const codes: unknown[] = [];
      for (let i = 0; i < 6; i++) {
        codes.push(
          errorCode(
            await gql((i % 2 ? a : b).url, LOGIN, {
              email: `nobody${i}@example.com`,
              password: "a wrong password here",
            }),
          ),
        );
      }
      expect(codes.slice(0, 4)).toEqual(Array(4).fill("INVALID_CREDENTIALS"));
      expect(codes.slice(4)).toEqual(["RATE_LIMITED", "RATE_LIMITED"]);
      clock.advance(60);
      expect(
        errorCode(await gql(a.url, LOGIN, { email: "nobody@example.com", password: "a wrong password here" })),
      ).toBe("INVALID_CREDENTIALS");
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

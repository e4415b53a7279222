import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "./helpers/cli";
import { errorCode, gql, LOGOUT, me, REFRESH, register } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

describe("operator CLI (a separate process on the server's database while it runs)", () => {
  it("prints help and exits 0 with --help; exits 2 on a usage error", async () => {
    const help = await cli(server.databaseUrl, "--help");
    expect(help.code).toBe(0);
    for (const command of ["grant-role", "revoke-role", "list-users", "revoke-sessions", "prune"]) {
      expect(help.stdout).toContain(command);
    }
    expect((await cli(server.databaseUrl)).code).toBe(2);
    expect(await cli(server.databaseUrl, "frobnicate")).toMatchObject({ code: 2 });
    const badRole = await cli(server.databaseUrl, "grant-role", "someone@example.com", "ROOT");
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toMatch(/unknown role "ROOT"; roles are USER, ADMIN/);
    expect((await cli(server.databaseUrl, "grant-role")).code).toBe(2);
  });

  it("fails with exit 1 and a clear message for an unknown email", async () => {
    const r = await cli(server.databaseUrl, "grant-role", "nobody@example.com", "ADMIN");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nobody@example\.com.*not found/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect((await cli(server.databaseUrl, "revoke-sessions", "nobody@example.com")).code).toBe(1);
  });

  it("refuses to revoke USER", async () => {
    const user = await register(server.url);
    const r = await cli(server.databaseUrl, "revoke-role", user.email, "USER");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Every user has USER/);
  });

  it("lists users with their roles and active sessions, also as JSON", async () => {
    const user = await register(server.url);
    const text = await cli(server.databaseUrl, "list-users");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(user.email);
    const rows = JSON.parse((await cli(server.databaseUrl, "list-users", "--json")).stdout) as Array<
      Record<string, unknown>
    >;
    expect(rows.find((r) => r.email === user.email)).toMatchObject({
      id: user.user.id,
      roles: ["USER"],
      activeSessions: 1,
    });
    expect(JSON.stringify(rows)).not.toContain("argon2");
  });

  it("revoke-sessions signs a user out everywhere at once", async () => {
    const user = await register(server.url);
    const bystander = await register(server.url);
    const r = await cli(server.databaseUrl, "revoke-sessions", user.email.toUpperCase());
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toMatch(/ended 1 session/);
    expect((await me(server.url, user.accessToken)).body.errors?.[0]?.extensions?.reason).toBe("REVOKED");
    expect(errorCode(await gql(server.url, REFRESH, { token: user.refreshToken }))).toBe("INVALID_REFRESH_TOKEN");
    expect((await me(server.url, bystander.accessToken)).body.data?.me.id).toBe(bystander.user.id);
  });

  it("prune deletes sessions dead for longer than the retention, and live sessions keep working", async () => {
    const live = await register(server.url);
    const rotated = (await gql(server.url, REFRESH, { token: live.refreshToken })).body.data!.refreshToken;
    const ended = await register(server.url);
    await gql(server.url, LOGOUT, { token: ended.refreshToken });
    const idle = await register(server.url);
    const recentlyEnded = await register(server.url);
    await gql(server.url, LOGOUT, { token: recentlyEnded.refreshToken });
    // Age one ended session and one left idle far past REFRESH_TOKEN_TTL.
    const old = new Date(Date.now() - 30 * 86_400_000);
    await server.sql("update sessions set ended_at = ? where user_id = ?", [old, ended.user.id]);
    await server.sql("update sessions set last_used_at = ? where user_id = ?", [old, idle.user.id]);

    const r = await cli(server.databaseUrl, "prune");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/deleted 2 session\(s\)/);
    for (const gone of [ended, idle]) {
      expect(await server.sql("select id from sessions where user_id = ?", [gone.user.id])).toHaveLength(0);
    }
    // Ended within the retention: kept (its logout stays idempotent).
    expect(await server.sql("select id from sessions where user_id = ?", [recentlyEnded.user.id])).toHaveLength(1);

    // The live session: access token, newest refresh token, and reuse detection.
    expect((await me(server.url, rotated.accessToken)).body.data?.me.id).toBe(live.user.id);
    const next = await gql(server.url, REFRESH, { token: rotated.refreshToken });
    expect(next.body.errors).toBeUndefined();
    server.clock.advance(3_600);
    expect(errorCode(await gql(server.url, REFRESH, { token: live.refreshToken }))).toBe("REFRESH_TOKEN_REUSED");
  });
});

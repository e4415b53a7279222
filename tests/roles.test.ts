import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "./helpers/cli";
import { errorCode, type GraphQLResponse, gql, me, register } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const USERS = `query($first: Int, $after: String) {
  users(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id email roles } } }
}`;
const SET_ROLES =
  "mutation($userId: ID!, $roles: [Role!]!) { setUserRoles(userId: $userId, roles: $roles) { id roles } }";

async function makeAdmin() {
  const admin = await register(server.url);
  const granted = await cli(server.databaseUrl, "grant-role", admin.email, "ADMIN");
  expect(granted.code).toBe(0);
  return admin;
}

describe("roles", () => {
  it("gives everyone USER", async () => {
    const user = await register(server.url);
    expect(user.user.roles).toEqual(["USER"]);
  });

  it("refuses users and setUserRoles to a USER with FORBIDDEN, and allows them after grant-role without signing in again", async () => {
    const user = await register(server.url);
    expect(errorCode(await gql(server.url, USERS, {}, { token: user.accessToken }))).toBe("FORBIDDEN");
    expect(
      errorCode(
        await gql(server.url, SET_ROLES, { userId: user.user.id, roles: ["ADMIN"] }, { token: user.accessToken }),
      ),
    ).toBe("FORBIDDEN");
    // The operator CLI runs as its own process on the same database file while the server is up.
    const granted = await cli(server.databaseUrl, "grant-role", user.email, "admin");
    expect(granted).toMatchObject({ code: 0 });
    expect(granted.stdout).toMatch(/USER, ADMIN/);
    // Same access token: roles are read from the database on each request.
    const r = await gql(server.url, USERS, {}, { token: user.accessToken });
    expect(r.body.errors).toBeUndefined();
    expect((await me(server.url, user.accessToken)).body.data?.me).toMatchObject({ roles: ["USER", "ADMIN"] });
    // And back: revoke-role applies to the next request too.
    expect((await cli(server.databaseUrl, "revoke-role", user.email, "ADMIN")).code).toBe(0);
    expect(errorCode(await gql(server.url, USERS, {}, { token: user.accessToken }))).toBe("FORBIDDEN");
  });

  it("lets an ADMIN set another user's roles; the change applies to that user's next request", async () => {
    const admin = await makeAdmin();
    const user = await register(server.url);
    const r = await gql(
      server.url,
      SET_ROLES,
      { userId: user.user.id, roles: ["ADMIN"] },
      { token: admin.accessToken },
    );
    expect(r.body.data?.setUserRoles).toEqual({ id: user.user.id, roles: ["USER", "ADMIN"] });
    expect(errorCode(await gql(server.url, USERS, { first: 1 }, { token: user.accessToken }))).toBeUndefined();
    await gql(server.url, SET_ROLES, { userId: user.user.id, roles: ["USER"] }, { token: admin.accessToken });
    expect(errorCode(await gql(server.url, USERS, { first: 1 }, { token: user.accessToken }))).toBe("FORBIDDEN");
  });

  it("refuses an empty role list, an unknown role and an unknown user", async () => {
    const admin = await makeAdmin();
    const empty = await gql(server.url, SET_ROLES, { userId: admin.user.id, roles: [] }, { token: admin.accessToken });
    expect(empty.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "roles" });
    const unknownRole = await gql(
      server.url,
      SET_ROLES,
      { userId: admin.user.id, roles: ["ROOT"] },
      { token: admin.accessToken },
    );
    expect(unknownRole.status).toBe(400);
    expect(errorCode(unknownRole)).toBe("BAD_USER_INPUT");
    for (const userId of ["00000000-0000-4000-8000-000000000000", "nope"]) {
      expect(
        errorCode(await gql(server.url, SET_ROLES, { userId, roles: ["USER"] }, { token: admin.accessToken })),
      ).toBe("NOT_FOUND");
    }
  });

  it("keeps the last ADMIN from dropping their own ADMIN role, but not when another ADMIN exists", async () => {
    const solo = await startServer();
    try {
      const admin = await register(solo.url);
      await cli(solo.databaseUrl, "grant-role", admin.email, "ADMIN");
      const refused = await gql(
        solo.url,
        SET_ROLES,
        { userId: admin.user.id, roles: ["USER"] },
        { token: admin.accessToken },
      );
      expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "roles" });
      expect((await me(solo.url, admin.accessToken)).body.data?.me).toMatchObject({ roles: ["USER", "ADMIN"] });

      const second = await register(solo.url);
      await gql(
        solo.url,
        SET_ROLES,
        { userId: second.user.id, roles: ["USER", "ADMIN"] },
        { token: admin.accessToken },
      );
      const allowed = await gql(
        solo.url,
        SET_ROLES,
        { userId: admin.user.id, roles: ["USER"] },
        { token: admin.accessToken },
      );
      expect(allowed.body.data?.setUserRoles.roles).toEqual(["USER"]);
    } finally {
      await solo.close();
    }
  });
});

describe("users (ADMIN)", () => {
  it("pages through every user oldest first, with no duplicates or gaps, and caps first at 100", async () => {
    const admin = await makeAdmin();
    for (let i = 0; i < 7; i++) await register(server.url);
    const [{ n }] = await server.sql<{ n: number }>("select count(*) as n from users");

    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 100; page++) {
      const r: GraphQLResponse = await gql(server.url, USERS, { first: 3, after }, { token: admin.accessToken });
      const conn = r.body.data!.users;
      expect(conn.totalCount).toBe(Number(n));
      seen.push(...conn.edges.map((e: { node: { id: string } }) => e.node.id));
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(Number(n));
    expect(new Set(seen).size).toBe(seen.length);
    const ordered = await server.sql<{ id: string }>("select id from users order by created_at asc, id asc");
    expect(seen).toEqual(ordered.map((row) => row.id));

    expect((await gql(server.url, USERS, { first: 100 }, { token: admin.accessToken })).body.errors).toBeUndefined();
    for (const first of [101, -1]) {
      const r = await gql(server.url, USERS, { first }, { token: admin.accessToken });
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "first" });
    }
    const bad = await gql(server.url, USERS, { after: "bm90IGEgY3Vyc29y" }, { token: admin.accessToken });
    expect(bad.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "after" });
  });

  it("never exposes password hashes", async () => {
    const admin = await makeAdmin();
    const r = await gql(server.url, "{ users { edges { node { passwordHash } } } }", {}, { token: admin.accessToken });
    expect(r.status).toBe(400);
    expect(r.text).not.toContain("$argon2");
  });
});

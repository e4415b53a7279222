import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "./helpers/cli";
import { errorCode, type GraphQLResponse, gql, me, register } from "./helpers/graphql";
import { spawnServer, tempDir } from "./helpers/process";
import { startServer, TEST_ENV, type TestServer } from "./helpers/server";

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
    await makeAdmin(); // so that revoking this user's ADMIN below does not leave none
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

describe("there is always an ADMIN once one exists (BEHAVIOUR.md §12)", () => {
  type Admin = Awaited<ReturnType<typeof register>>;
  const ADMINS = `select id from users where cast(roles as text) like '%"ADMIN"%'`;

  /**
   * Two server processes on one new database (separate processes, so that on
   * SQLite too the two sides of a race really run at once), its first ADMIN
   * (granted by the operator CLI), and an in-process server to read it.
   */
  async function withTwoInstances(test: (a: string, b: string, db: TestServer, first: Admin) => Promise<void>) {
    const db = await startServer();
    const env = { ...TEST_ENV, DATABASE_URL: db.databaseUrl };
    const instances = await Promise.all([spawnServer(tempDir(), env), spawnServer(tempDir(), env)]);
    try {
      const first = await register(db.url);
      expect((await cli(db.databaseUrl, "grant-role", first.email, "ADMIN")).code).toBe(0);
      await test(instances[0].url, instances[1].url, db, first);
    } finally {
      await Promise.all([db.close(), ...instances.map((i) => i.stop())]);
    }
  }

  const adminsOf = async (s: TestServer) => (await s.sql<{ id: string }>(ADMINS)).map((r) => r.id).sort();
  const setRoles = (url: string, actor: Admin, target: Admin, roles: string[]) =>
    gql(url, SET_ROLES, { userId: target.user.id, roles }, { token: actor.accessToken });

  /** `keeper`, the only ADMIN, makes two new users ADMIN and steps down: they are the only two left. */
  async function onlyTwoAdmins(db: TestServer, keeper: Admin): Promise<[Admin, Admin]> {
    const x = await register(db.url);
    const y = await register(db.url);
    for (const target of [x, y])
      expect((await setRoles(db.url, keeper, target, ["ADMIN"])).body.errors).toBeUndefined();
    expect((await setRoles(db.url, keeper, keeper, ["USER"])).body.errors).toBeUndefined();
    expect(await adminsOf(db)).toEqual([x.user.id, y.user.id].sort());
    return [x, y];
  }

  it("refuses the CLI's revoke-role of the last ADMIN, and allows it once another ADMIN exists", () =>
    withTwoInstances(async (a, b, db, first) => {
      const refused = await cli(db.databaseUrl, "revoke-role", first.email, "ADMIN");
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/no ADMIN/);
      expect(await adminsOf(db)).toEqual([first.user.id]);
      const second = await register(a);
      expect((await setRoles(a, first, second, ["USER", "ADMIN"])).body.errors).toBeUndefined();
      expect((await cli(db.databaseUrl, "revoke-role", first.email, "ADMIN")).code).toBe(0);
      expect(await adminsOf(db)).toEqual([second.user.id]);
      // The last ADMIN cannot remove their own either.
      const own = await setRoles(b, second, second, ["USER"]);
      expect(own.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "roles" });
      expect(await adminsOf(db)).toEqual([second.user.id]);
    }));

  it(
    "never leaves zero ADMINs when the only two remove each other's ADMIN at the same moment (50 rounds)",
    () =>
      withTwoInstances(async (a, b, db, first) => {
        let keeper = first;
        const refusals: unknown[] = [];
        for (let round = 0; round < 50; round++) {
          const [x, y] = await onlyTwoAdmins(db, keeper);
          const [byX, byY] = await Promise.all([setRoles(a, x, y, ["USER"]), setRoles(b, y, x, ["USER"])]);
          const left = await adminsOf(db);
          expect(left, `round ${round}`).toHaveLength(1);
          // The one left won. The other was refused: BAD_USER_INPUT when both
          // changes ran at once (it would have left none), FORBIDDEN when the
          // winner had taken its ADMIN before its request was authorised.
          keeper = left[0] === x.user.id ? x : y;
          const [won, lost] = keeper === x ? [byX, byY] : [byY, byX];
          expect(won.body.data?.setUserRoles.roles, `round ${round}`).toEqual(["USER"]);
          expect(["BAD_USER_INPUT", "FORBIDDEN"], `round ${round}`).toContain(errorCode(lost));
          refusals.push(errorCode(lost));
          expect(errorCode(await gql(b, USERS, { first: 1 }, { token: keeper.accessToken }))).toBeUndefined();
        }
        // The race itself happened: in some rounds both changes ran at once.
        expect(refusals).toContain("BAD_USER_INPUT");
      }),
    120_000,
  );

  it(
    "never leaves zero ADMINs when the only two remove their own ADMIN at the same moment (50 rounds)",
    () =>
      withTwoInstances(async (a, b, db, first) => {
        let keeper = first;
        for (let round = 0; round < 50; round++) {
          const [x, y] = await onlyTwoAdmins(db, keeper);
          const [byX, byY] = await Promise.all([setRoles(a, x, x, ["USER"]), setRoles(b, y, y, ["USER"])]);
          const left = await adminsOf(db);
          expect(left, `round ${round}`).toHaveLength(1);
          // The one left is the one refused: it would have left none.
          keeper = left[0] === x.user.id ? x : y;
          const [lost, won] = keeper === x ? [byX, byY] : [byY, byX];
          expect(won.body.data?.setUserRoles.roles, `round ${round}`).toEqual(["USER"]);
          expect(lost.body.errors?.[0]?.extensions, `round ${round}`).toMatchObject({
            code: "BAD_USER_INPUT",
            field: "roles",
          });
        }
      }),
    120_000,
  );
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

import { AsyncLocalStorage, executionAsyncResource } from "node:async_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { User } from "../src/db/entities";
import { transaction } from "../src/db/transaction";
import { errorCode, gql, LOGIN, LOGOUT, ME, REFRESH, register } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";
import { enrollTotp, loginForMfa, verifyMfa } from "./helpers/totp";

/**
 * On Node 20 and 22 the first `run` of any AsyncLocalStorage turns on promise
 * hooks for the whole process, for good; `me` then serves about 9 % less
 * (bench/RESULTS.md). MikroORM runs one in `em.transactional()` and in every
 * `flush()`, so the server writes without them (src/db/transaction.ts). This
 * runs the server's operations in this process, which vitest starts without
 * hooks, and checks they are still off. Node 24 keeps AsyncLocalStorage
 * without promise hooks, so there is nothing to check.
 */
const nodeMajor = Number(process.versions.node.split(".")[0]);

/** Whether promise hooks are on: with them, a continuation runs with its promise as the async resource. */
async function promiseHooksOn(): Promise<boolean> {
  const probe = async () => {
    await null;
    return executionAsyncResource() instanceof Promise;
  };
  return probe();
}

describe.skipIf(nodeMajor >= 24)("promise hooks stay off (Node 20 and 22)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it("after register, login, me, refresh, TOTP with a second step, password change, notes and logout; on with any AsyncLocalStorage run", async () => {
    expect(await promiseHooksOn()).toBe(false);
    const user = await register(server.url);
    const auth = { token: user.accessToken };
    expect(errorCode(await gql(server.url, ME, {}, auth))).toBeUndefined();
    const refreshed = await gql(server.url, REFRESH, { token: user.refreshToken });
    expect(errorCode(refreshed)).toBeUndefined();
    const note = await gql(server.url, 'mutation { createNote(input: { title: "t", body: "b" }) { id } }', {}, auth);
    const id = note.body.data?.createNote.id;
    expect(id).toBeTypeOf("string");
    expect(
      errorCode(
        await gql(server.url, 'mutation($id: ID!) { updateNote(id: $id, patch: { title: "u" }) { id } }', { id }, auth),
      ),
    ).toBeUndefined();
    expect(
      (await gql(server.url, "mutation($id: ID!) { deleteNote(id: $id) }", { id }, auth)).body.data?.deleteNote,
    ).toBe(true);
    const { app } = await enrollTotp(server.url, server.clock, user.accessToken);
    const { mfaToken } = await loginForMfa(server.url, user);
    const signedIn = await verifyMfa(server.url, mfaToken, app.next());
    expect(errorCode(signedIn)).toBeUndefined();
    const changed = await gql(
      server.url,
      "mutation($c: String!, $n: String!) { changePassword(input: { currentPassword: $c, newPassword: $n }) { accessToken } }",
      { c: user.password, n: `${user.password} and more` },
      { token: signedIn.body.data?.verifyMfa.accessToken },
    );
    expect(errorCode(changed)).toBeUndefined();
    expect(errorCode(await gql(server.url, LOGIN, { email: user.email, password: "wrong password, wrong" }))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect(errorCode(await gql(server.url, LOGOUT, { token: refreshed.body.data?.refreshToken.refreshToken }))).toBe(
      undefined,
    );

    expect(await promiseHooksOn()).toBe(false);
    // The check can fail: one AsyncLocalStorage run, as MikroORM's flush does, turns them on.
    new AsyncLocalStorage().run(true, () => undefined);
    expect(await promiseHooksOn()).toBe(true);
  });

  it("refuses a transaction whose body wrote through the unit of work (it would be lost unflushed), and rolls it back", async () => {
    const users = async () => Number((await server.sql<{ n: number }>("select count(*) as n from users"))[0]?.n);
    const before = await users();
    const em = server.app.orm.em.fork();
    await expect(
      transaction(em, async (tx) => {
        // A direct write, rolled back with the rest.
        await tx.insert(
          tx.create(User, { email: `direct.${Date.now()}@example.com`, passwordHash: null }, { persist: false }),
        );
        tx.create(User, { email: `uow.${Date.now()}@example.com`, passwordHash: null });
      }),
    ).rejects.toThrow(/not the unit of work/);
    expect(await users()).toBe(before);
  });
});

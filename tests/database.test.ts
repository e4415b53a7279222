import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config";
import { Session } from "../src/db/entities/Session";
import { User } from "../src/db/entities/User";
import { type Orm, openDatabase } from "../src/db/orm";
import { freshDatabaseUrl, TEST_DATABASE } from "./helpers/database";
import { TEST_ENV } from "./helpers/server";

describe(`the database layer on ${TEST_DATABASE}`, () => {
  let orm: Orm;
  const queries: string[] = [];

  beforeAll(async () => {
    const { config } = loadConfig({ ...TEST_ENV, DATABASE_URL: await freshDatabaseUrl() });
    orm = await openDatabase(config.database, { onQuery: (message) => queries.push(message) });
  });
  afterAll(() => orm?.close());

  it("has committed migrations that build exactly the schema the entities describe", async () => {
    expect(await orm.getSchemaGenerator().getUpdateSchemaSQL()).toBe("");
  });

  it("writes nothing when loaded rows are flushed unchanged, and writes a changed date", async () => {
    const em = orm.em.fork();
    const user = em.create(User, { email: `db-${Date.now()}@example.com`, passwordHash: "x", roles: ["USER"] });
    const session = em.create(Session, {
      user,
      expiresAt: new Date(Date.now() + 60_000),
      refreshSecret: "00".repeat(32),
      refreshRotatedAt: new Date(),
    });
    await em.flush();

    // A date read back must compare equal to itself, or every flush of a
    // loaded session rewrites it (and bumps users.updated_at).
    const reader = orm.em.fork();
    const loaded = await reader.findOneOrFail(Session, { id: session.id }, { populate: ["user"] });
    queries.length = 0;
    await reader.flush();
    expect(queries.filter((q) => /\b(update|insert|delete)\b/i.test(q))).toEqual([]);

    const rotatedAt = new Date(Date.now() + 1_000);
    loaded.refreshRotatedAt = rotatedAt;
    await reader.flush();
    expect(queries.filter((q) => /\bupdate\b/i.test(q))).toHaveLength(1);
    const again = await orm.em.fork().findOneOrFail(Session, { id: session.id });
    expect(again.refreshRotatedAt?.getTime()).toBe(rotatedAt.getTime());
  });
});

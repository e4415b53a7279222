import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config";
import { RefreshToken } from "../src/db/entities/RefreshToken";
import { Session } from "../src/db/entities/Session";
import { User } from "../src/db/entities/User";
import { type Orm, openDatabase } from "../src/db/orm";
import { freshDatabaseUrl, TEST_DATABASE } from "./helpers/database";

describe(`the database layer on ${TEST_DATABASE}`, () => {
  let orm: Orm;
  const queries: string[] = [];

  beforeAll(async () => {
    const { config } = loadConfig({ DATABASE_URL: await freshDatabaseUrl() });
    orm = await openDatabase(config.database, { onQuery: (message) => queries.push(message) });
  });
  afterAll(() => orm?.close());

  it("has committed migrations that build exactly the schema the entities describe", async () => {
    expect(await orm.getSchemaGenerator().getUpdateSchemaSQL()).toBe("");
  });

  it("writes nothing when loaded rows are flushed unchanged, and writes a changed date", async () => {
    const em = orm.em.fork();
    const user = em.create(User, { email: `db-${Date.now()}@example.com`, passwordHash: "x", roles: ["USER"] });
    const session = em.create(Session, { user, expiresAt: new Date(Date.now() + 60_000) });
    const token = em.create(RefreshToken, {
      session,
      tokenHash: `hash-${Date.now()}`,
      expiresAt: new Date(Date.now() + 60_000),
    });
    await em.flush();

    // Every refresh loads these three rows: a date read back must compare equal to
    // itself, or each rotation rewrites them (and bumps users.updated_at).
    const reader = orm.em.fork();
    const loaded = await reader.findOneOrFail(RefreshToken, { id: token.id }, { populate: ["session.user"] });
    queries.length = 0;
    await reader.flush();
    expect(queries.filter((q) => /\b(update|insert|delete)\b/i.test(q))).toEqual([]);

    const usedAt = new Date();
    loaded.usedAt = usedAt;
    await reader.flush();
    expect(queries.filter((q) => /\bupdate\b/i.test(q))).toHaveLength(1);
    const again = await orm.em.fork().findOneOrFail(RefreshToken, { id: token.id });
    expect(again.usedAt?.getTime()).toBe(usedAt.getTime());
  });
});

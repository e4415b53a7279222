import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config";
import { Note } from "../src/db/entities/Note";
import { Session } from "../src/db/entities/Session";
import { User } from "../src/db/entities/User";
import { applyMigrations, type Orm, openDatabase } from "../src/db/orm";
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

  // The migration that let users.password_hash be null (§9's password-less
  // accounts) rebuilds the users table on SQLite. A DROP TABLE with foreign
  // keys on would have deleted every session, note and passkey by cascade.
  it("keeps every user's rows through the migration that rebuilds the users table", async () => {
    const { config } = loadConfig({ ...TEST_ENV, DATABASE_URL: await freshDatabaseUrl() });
    const old = await openDatabase(config.database, { migrate: false });
    try {
      const rebuild = config.database.kind === "sqlite" ? "Migration20261126140246" : "Migration20261126140248";
      const pending = (await old.getMigrator().getPendingMigrations()).map((m) => m.name);
      const before = pending[pending.indexOf(rebuild) - 1];
      expect(before).toBeDefined();
      await old.getMigrator().up({ to: before });

      const em = old.em.fork();
      const user = em.create(User, { email: "kept@example.com", passwordHash: "x", roles: ["USER"] });
      em.create(Session, {
        user,
        expiresAt: new Date(Date.now() + 60_000),
        refreshSecret: "00".repeat(32),
        refreshRotatedAt: new Date(),
      });
      em.create(Note, { owner: user, title: "kept", body: "" });
      await em.flush();

      expect(await applyMigrations(old, config.database)).toContain(rebuild);
      const after = old.em.fork();
      expect(await after.count(Session, { user: user.id })).toBe(1);
      expect(await after.count(Note, { owner: user.id })).toBe(1);
      // And the change itself: an account without a password can be stored.
      after.create(User, { email: "no-password@example.com", passwordHash: null, roles: ["USER"] });
      await after.flush();
      // Foreign keys are enforced again afterwards.
      const orphan = old.em.fork();
      orphan.create(Note, { owner: "00000000-0000-4000-8000-000000000000", title: "orphan", body: "" });
      await expect(orphan.flush()).rejects.toThrow(/foreign key/i);
    } finally {
      await old.close();
    }
  });
});

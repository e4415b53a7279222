import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { MikroORM } from "@mikro-orm/core";
import type { AbstractSqlConnection } from "@mikro-orm/knex";
import { createOrmConfig, type OrmHooks } from "../../mikro-orm.config";
import type { DatabaseConfig } from "../config";
import { type ConnectionPool, SqliteWriteGroups } from "./sqlite-write-groups";

export type Orm = MikroORM;

/** Opens the database, creating its folder, and applies pending migrations. */
export async function openDatabase(
  database: DatabaseConfig,
  { migrate = true, ...hooks }: { migrate?: boolean } & OrmHooks = {},
): Promise<Orm> {
  if (database.kind === "sqlite") {
    mkdirSync(dirname(database.path), { recursive: true });
    // The file holds password hashes: owner-only (ASVS 13.4, DR-06). Created before
    // SQLite opens it, because SQLite gives its -wal and -shm files the same mode.
    // Only if it does not exist yet: closing any descriptor of a file drops every
    // POSIX lock this process holds on it, so opening an existing database here
    // would strip the locks of connections already open in the process (another
    // in-process instance), and the next process to close it would delete the WAL
    // under them (https://www.sqlite.org/howtocorrupt.html §2.2).
    createOwnerOnly(database.path);
    chmodSync(database.path, 0o600);
  }
  const orm = await MikroORM.init(createOrmConfig(database, hooks));
  const { onQuery } = hooks;
  // Every statement passes knex, the ORM's and the hand-written ones of src/db/sql.ts alike
  // (MikroORM's own query log sees only the former).
  if (onQuery) knexOf(orm).on("query", (query: { sql: string }) => onQuery(query.sql));
  if (migrate) await applyMigrations(orm, database);
  return orm;
}

/**
 * Names the PostgreSQL advisory lock that serialises migrations: every
 * instance of this server asks for the same one, nothing else does.
 */
const MIGRATION_LOCK = "graphql-auth-server:migrations";

/**
 * Applies pending migrations and returns their names; on PostgreSQL one
 * instance at a time. Several instances started together on one fresh
 * database would otherwise all find the same migrations pending and run them
 * at once (the loser fails on a duplicate table). Each takes a transaction
 * advisory lock on a connection of its own, then migrates: the first migrates,
 * the others wait and then find nothing pending. The lock goes with the
 * transaction, or with the connection if the process dies, so a crashed
 * instance never leaves the database locked.
 *
 * SQLite needs none: one server process owns the file (BEHAVIOUR.md §1).
 */
export async function applyMigrations(orm: Orm, database: DatabaseConfig): Promise<string[]> {
  const up = async () => (await orm.getMigrator().up()).map((m) => m.name);
  if (database.kind !== "postgres") return withoutForeignKeyActions(orm, up);
  return knexOf(orm).transaction(async (lock) => {
    await lock.raw("select pg_advisory_xact_lock(hashtext(?))", [MIGRATION_LOCK]);
    return up();
  });
}

/**
 * SQLite changes a column (say, NOT NULL dropped) by copying the table into a
 * new one and dropping the old. With foreign keys on, that DROP deletes every
 * row first and cascades: each user's sessions, notes and passkeys would go.
 * SQLite's own procedure (https://www.sqlite.org/lang_altertable.html §7)
 * turns foreign keys off around the transaction (the pragma does nothing
 * inside one, where the migrations run), checks them before going on, and
 * turns them back on. One connection: the pool holds one, so the pragma
 * applies to the connection the migrations use.
 */
async function withoutForeignKeyActions(orm: Orm, migrate: () => Promise<string[]>): Promise<string[]> {
  const connection = orm.em.getConnection();
  await connection.execute("pragma foreign_keys = off");
  try {
    const applied = await migrate();
    const broken = await connection.execute<unknown[]>("pragma foreign_key_check");
    if (broken.length > 0) throw new Error(`after the migrations, ${broken.length} rows break a foreign key`);
    return applied;
  } finally {
    await connection.execute("pragma foreign_keys = on");
  }
}

/** False once the ORM's database was closed (knex drops its pool): a cheap property read, no query. */
export function databaseIsOpen(orm: Orm): boolean {
  return (knexOf(orm).client as { pool?: unknown }).pool != null;
}

/** SQLite: group commit on the ORM's own connection (`sqlite-write-groups.ts`). */
export function sqliteWriteGroups(orm: Orm, onQuery?: (sql: string) => void): SqliteWriteGroups {
  return new SqliteWriteGroups(knexOf(orm).client as ConnectionPool, {
    isOpen: () => databaseIsOpen(orm),
    convert: (error) => orm.em.getDriver().convertException(error),
    onQuery,
  });
}

function knexOf(orm: Orm) {
  return (orm.em.getConnection() as AbstractSqlConnection).getKnex();
}

function createOwnerOnly(path: string): void {
  try {
    closeSync(openSync(path, "wx", 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}

/** For /readyz: true when the database answers a trivial query. */
export async function databaseAnswers(orm: Orm): Promise<boolean> {
  try {
    await orm.em.getConnection().execute("select 1");
    return true;
  } catch {
    return false;
  }
}

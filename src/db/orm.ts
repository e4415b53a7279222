import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { MikroORM } from "@mikro-orm/core";
import { createOrmConfig, type OrmHooks } from "../../mikro-orm.config";
import type { DatabaseConfig } from "../config";

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
    closeSync(openSync(database.path, "a", 0o600));
    chmodSync(database.path, 0o600);
  }
  const orm = await MikroORM.init(createOrmConfig(database, hooks));
  if (migrate) await orm.getMigrator().up();
  return orm;
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

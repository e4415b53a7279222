import "reflect-metadata";
import { ConfigError, loadOperatorConfig } from "../config";
import { applyMigrations, openDatabase } from "../db/orm";

/** `npm run db:migrate`: apply pending migrations to DATABASE_URL without starting the server. */
async function main(): Promise<void> {
  const config = loadOperatorConfig();
  const orm = await openDatabase(config.database, { migrate: false });
  try {
    const applied = await applyMigrations(orm, config.database);
    console.log(applied.length === 0 ? "database is up to date" : `applied ${applied.join(", ")}`);
  } finally {
    await orm.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});

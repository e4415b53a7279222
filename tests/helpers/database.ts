import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";

/** Which database the suite runs on: `TEST_DATABASE=postgres npm test` (with TEST_POSTGRES_URL) or SQLite. */
export const TEST_DATABASE: "sqlite" | "postgres" = process.env.TEST_DATABASE === "postgres" ? "postgres" : "sqlite";

function adminUrl(): string {
  const url = process.env.TEST_POSTGRES_URL;
  if (!url) throw new Error("TEST_DATABASE=postgres needs TEST_POSTGRES_URL (see `bash .ci/postgres.sh start`)");
  return url;
}

/** A new, empty database for one test server: a temp SQLite file, or a new PostgreSQL database. */
export async function freshDatabaseUrl(kind = TEST_DATABASE): Promise<string> {
  if (kind === "sqlite") return `sqlite:${join(mkdtempSync(join(tmpdir(), "auth-test-")), "auth.sqlite")}`;
  const name = `auth_test_${randomBytes(6).toString("hex")}`;
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

import { TEST_DATABASE } from "./database";
import type { TestServer } from "./server";

/** Every table of the server's database and how many rows it holds. */
export async function countRows(server: TestServer): Promise<Record<string, number>> {
  const tables = await server.sql<{ name: string }>(
    TEST_DATABASE === "postgres"
      ? "select tablename as name from pg_tables where schemaname = current_schema()"
      : "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'",
  );
  const counts: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await server.sql<{ n: number | string }>(`select count(*) as n from "${name}"`);
    counts[name] = Number(row?.n);
  }
  return counts;
}

export interface SessionRow {
  id: string;
  refresh_generation: number;
  refresh_retired_below: number;
  refresh_secret: string;
  rotatedAt: Date | null;
  lastUsedAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
  end_reason: string | null;
}

const date = (v: unknown) =>
  v == null ? null : new Date(typeof v === "string" && /^\d+$/.test(v) ? Number(v) : (v as string));

/** A session's row, dates as Dates on either database: to show that something changed, or did not. */
export async function sessionRow(server: TestServer, id: string): Promise<SessionRow> {
  const [row] = await server.sql<Record<string, unknown>>("select * from sessions where id = ?", [id]);
  if (row === undefined) throw new Error(`no session ${id}`);
  return {
    id: String(row.id),
    refresh_generation: Number(row.refresh_generation),
    refresh_retired_below: Number(row.refresh_retired_below),
    refresh_secret: String(row.refresh_secret),
    rotatedAt: date(row.refresh_rotated_at),
    lastUsedAt: date(row.last_used_at) as Date,
    expiresAt: date(row.expires_at) as Date,
    endedAt: date(row.ended_at),
    end_reason: row.end_reason == null ? null : String(row.end_reason),
  };
}

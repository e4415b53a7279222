import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectionException } from "@mikro-orm/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteReads } from "../../src/db/sqlite-reads";

// The per-request read connection (db/sqlite-reads.ts), on a real SQLite file
// in WAL mode written by a second connection, as the server's ORM writes it.

interface Writer {
  exec(sql: string): void;
  prepare(sql: string): { run(...params: unknown[]): unknown };
  close(): void;
}
type WriterClass = new (path: string) => Writer & { pragma(text: string): unknown };

let dir: string;
let writer: Writer;
let open = true;
const seen: string[] = [];
let reads: SqliteReads;

beforeAll(async () => {
  // better-sqlite3 ships no types (it comes with MikroORM's driver).
  const Database = (await import("better-sqlite3" as string)).default as WriterClass;
  dir = mkdtempSync(join(tmpdir(), "auth-sqlite-reads-"));
  const path = join(dir, "reads.sqlite");
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec("create table t (id integer primary key, v text not null)");
  db.exec("insert into t (id, v) values (1, 'one'), (2, 'two')");
  writer = db;
  reads = new SqliteReads(path, { isOpen: () => open, onQuery: (sql) => seen.push(sql) });
});
afterAll(() => {
  reads.close();
  writer.close();
  rmSync(dir, { recursive: true, force: true });
});

const BY_ID = "select v from t where id = ?";

describe("SqliteReads.getSoon", () => {
  it("runs the reads asked for in one turn together, once the turn's other work is done", async () => {
    seen.length = 0;
    const asked = [reads.getSoon(BY_ID, [1]), reads.getSoon(BY_ID, [2]), reads.getSoon(BY_ID, [3])];
    await Promise.resolve();
    expect(seen).toEqual([]);
    expect(await Promise.all(asked)).toEqual([{ v: "one" }, { v: "two" }, undefined]);
    expect(seen).toEqual([BY_ID, BY_ID, BY_ID]);
  });

  it("sees what was committed after the read was asked for: batching makes no read older", async () => {
    const asked = reads.getSoon(BY_ID, [7]);
    writer.prepare("insert into t (id, v) values (?, ?)").run(7, "seven");
    expect(await asked).toEqual({ v: "seven" });
    const ended = reads.getSoon(BY_ID, [7]);
    writer.prepare("delete from t where id = ?").run(7);
    expect(await ended).toBeUndefined();
  });

  it("fails only the read that failed", async () => {
    const results = await Promise.allSettled([
      reads.getSoon(BY_ID, [1]),
      reads.getSoon("select v from no_such_table where id = ?", [1]),
      reads.getSoon(BY_ID, [2]),
    ]);
    expect(results[0]).toEqual({ status: "fulfilled", value: { v: "one" } });
    expect(results[1]?.status).toBe("rejected");
    expect(results[2]).toEqual({ status: "fulfilled", value: { v: "two" } });
  });

  it("refuses every read once the database is closed, and serves again when it is open", async () => {
    const asked = [reads.getSoon(BY_ID, [1]), reads.getSoon(BY_ID, [2])];
    open = false;
    const results = await Promise.allSettled(asked);
    for (const result of results) {
      expect(result.status).toBe("rejected");
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(ConnectionException);
    }
    open = true;
    expect(await reads.getSoon(BY_ID, [1])).toEqual({ v: "one" });
  });
});

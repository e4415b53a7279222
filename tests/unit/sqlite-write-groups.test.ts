import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectionException } from "@mikro-orm/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execute, queryRows } from "../../src/db/sql";
import { type ConnectionPool, SqliteWriteGroups } from "../../src/db/sqlite-write-groups";

// Group commit (db/sqlite-write-groups.ts) on a real SQLite file in WAL mode,
// its connection handed out by a pool of one as knex's pool hands out the
// server's; a second connection reads what was committed.

interface Connection {
  exec(sql: string): void;
  prepare(sql: string): { all(...params: unknown[]): unknown[]; run(...params: unknown[]): unknown };
  pragma(text: string): unknown;
  close(): void;
}
type ConnectionClass = new (path: string) => Connection;

let dir: string;
let writer: Connection;
let reader: Connection;
let open = true;
const seen: string[] = [];
let groups: SqliteWriteGroups;

/** One connection, lent to one borrower at a time (what knex's pool of one does). */
function poolOf(connection: Connection): ConnectionPool {
  let lent = false;
  const waiting: Array<() => void> = [];
  return {
    async acquireConnection() {
      if (lent) await new Promise<void>((resolve) => waiting.push(resolve));
      lent = true;
      return connection;
    },
    async releaseConnection() {
      lent = false;
      waiting.shift()?.();
    },
  };
}

beforeAll(async () => {
  // better-sqlite3 ships no types (it comes with MikroORM's driver).
  const Database = (await import("better-sqlite3" as string)).default as ConnectionClass;
  dir = mkdtempSync(join(tmpdir(), "auth-write-groups-"));
  const path = join(dir, "groups.sqlite");
  writer = new Database(path);
  writer.pragma("journal_mode = WAL");
  writer.pragma("foreign_keys = ON");
  writer.exec(`create table parents (id integer primary key);
    create table t (id integer primary key, parent integer references parents (id) deferrable initially deferred)`);
  writer.exec("insert into parents (id) values (1)");
  reader = new Database(path);
  groups = new SqliteWriteGroups(poolOf(writer), {
    isOpen: () => open,
    convert: (error) => error,
    onQuery: (sql) => seen.push(sql.trim().split(/\s+/).slice(0, 2).join(" ").toLowerCase()),
  });
});
afterAll(() => {
  reader.close();
  writer.close();
  rmSync(dir, { recursive: true, force: true });
});

const INSERT = "insert into t (id, parent) values (?, ?)";
const committedIds = () =>
  (reader.prepare("select id from t order by id").all() as Array<{ id: number }>).map((r) => r.id);
const refused = new Error("refused by the body");

describe("SqliteWriteGroups", () => {
  it("commits the transactions asked for in one turn together, each in its own savepoint", async () => {
    seen.length = 0;
    const asked = [1, 2, 3].map((id) => groups.run(async (tx) => execute(tx, INSERT, [id, 1])));
    await Promise.resolve();
    expect(seen).toEqual([]);
    expect(await Promise.all(asked)).toEqual([1, 1, 1]);
    expect(committedIds()).toEqual([1, 2, 3]);
    expect(seen.filter((s) => s.startsWith("begin"))).toHaveLength(1);
    expect(seen.filter((s) => s.startsWith("commit"))).toHaveLength(1);
    expect(seen.filter((s) => s.startsWith("savepoint"))).toHaveLength(3);
  });

  it("answers a caller only once its transaction is committed", async () => {
    const ids = await groups.run(async (tx) => {
      await execute(tx, INSERT, [4, 1]);
      // Its own write is visible to it, and to nobody else before the commit.
      expect(committedIds()).not.toContain(4);
      return (await queryRows(tx, "select id from t where id = ?", [4])).map((r) => r.id);
    });
    expect(ids).toEqual([4]);
    expect(committedIds()).toContain(4);
  });

  it("rolls back a body that throws, alone: the others commit and their callers get their results", async () => {
    const results = await Promise.allSettled([
      groups.run(async (tx) => execute(tx, INSERT, [10, 1])),
      groups.run(async (tx) => {
        await execute(tx, INSERT, [11, 1]);
        throw refused;
      }),
      groups.run(async (tx) => execute(tx, INSERT, [12, 1])),
    ]);
    expect(results).toEqual([
      { status: "fulfilled", value: 1 },
      { status: "rejected", reason: refused },
      { status: "fulfilled", value: 1 },
    ]);
    expect(committedIds()).toEqual(expect.arrayContaining([10, 12]));
    expect(committedIds()).not.toContain(11);
  });

  it("rolls back a lone body that throws", async () => {
    await expect(
      groups.run(async (tx) => {
        await execute(tx, INSERT, [20, 1]);
        throw refused;
      }),
    ).rejects.toBe(refused);
    expect(committedIds()).not.toContain(20);
  });

  it("commits nothing of a group whose commit fails, and tells every caller", async () => {
    // A deferred foreign key is checked at COMMIT: one body's bad row fails the whole transaction.
    const results = await Promise.allSettled([
      groups.run(async (tx) => execute(tx, INSERT, [30, 1])),
      groups.run(async (tx) => execute(tx, INSERT, [31, 999])),
    ]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(committedIds()).not.toContain(30);
    expect(committedIds()).not.toContain(31);
    // The connection is usable again: the next group commits.
    await groups.run(async (tx) => execute(tx, INSERT, [32, 1]));
    expect(committedIds()).toContain(32);
  });

  it("refuses every caller with a connection error while the database is closed", async () => {
    open = false;
    const results = await Promise.allSettled([
      groups.run(async (tx) => execute(tx, INSERT, [40, 1])),
      groups.run(async (tx) => execute(tx, INSERT, [41, 1])),
    ]);
    open = true;
    for (const result of results) {
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(ConnectionException);
    }
    expect(committedIds()).not.toContain(40);
  });
});

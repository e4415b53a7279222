import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import { execute, queryRows } from "../sql";

const SQL = {
  insert: "insert into recovery_codes (id, user_id, code_hash, created_at, used_at) values (?, ?, ?, ?, null)",
  // Conditional: of concurrent uses of one code exactly one changes the row.
  use: "update recovery_codes set used_at = ? where user_id = ? and code_hash = ? and used_at is null",
  countUnused: "select count(*) as n from recovery_codes where user_id = ? and used_at is null",
  deleteOfUser: "delete from recovery_codes where user_id = ?",
} as const;

/** Every SQL statement about recovery codes (BEHAVIOUR.md §8). */
export class RecoveryCodeStore {
  /** Replaces a user's codes with these (hashes); in the caller's transaction. */
  async replace(tx: EntityManager, userId: string, codeHashes: readonly string[], now: Date): Promise<void> {
    await execute(tx, SQL.deleteOfUser, [userId]);
    for (const hash of codeHashes) await execute(tx, SQL.insert, [randomUUID(), userId, hash, now]);
  }

  /** Uses the code with this hash if it is the user's and unused; true when this call used it. */
  async use(tx: EntityManager, userId: string, codeHash: string, now: Date): Promise<boolean> {
    return (await execute(tx, SQL.use, [now, userId, codeHash])) > 0;
  }

  async countUnused(em: EntityManager, userId: string): Promise<number> {
    const [row] = await queryRows(em, SQL.countUnused, [userId]);
    return Number(row?.n ?? 0);
  }

  /** True when there were any. */
  async deleteOfUser(tx: EntityManager, userId: string): Promise<boolean> {
    return (await execute(tx, SQL.deleteOfUser, [userId])) > 0;
  }
}

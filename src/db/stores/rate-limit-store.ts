import type { EntityManager } from "@mikro-orm/core";
import { batchDeleteSql, type Executor, execute, queryRows } from "../sql";
import type { Dialect } from "./session-store";

const HIT = `insert into rate_limit_counters (key, window_end, hits) values (?, ?, 1)
  on conflict (key) do update set
    hits = case when rate_limit_counters.window_end = excluded.window_end then rate_limit_counters.hits + 1 else 1 end,
    window_end = excluded.window_end
  returning hits`;

/**
 * Fixed-window counters shared by every instance through the database. One
 * upsert per hit, atomic on both databases (SQLite ≥ 3.35 and PostgreSQL
 * take the same statement), so concurrent hits never lose a count.
 */
export class RateLimitStore {
  // Oldest first through the window_end index, in batches (see `batchDeleteSql`).
  private readonly pruneSql: string;

  constructor(dialect: Dialect) {
    this.pruneSql = batchDeleteSql(dialect, "rate_limit_counters", "key", "window_end", "<=");
  }

  /** Counts one hit for `key` in the window ending at `windowEnd` (epoch ms); returns the window's count. */
  async hit(em: Executor, key: string, windowEnd: number): Promise<number> {
    const [row] = await queryRows(em, HIT, [key, windowEnd]);
    return Number(row?.hits ?? 0);
  }

  /** Deletes at most `limit` counters of windows over by `now` (epoch ms); returns how many. */
  pruneBatch(em: EntityManager, now: number, limit: number): Promise<number> {
    return execute(em, this.pruneSql, [now, limit, now]);
  }
}

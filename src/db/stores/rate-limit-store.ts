import type { EntityManager } from "@mikro-orm/core";
import { execute, queryRows } from "../sql";

const HIT = `insert into rate_limit_counters (key, window_start, hits) values (?, ?, 1)
  on conflict (key) do update set
    hits = case when rate_limit_counters.window_start = excluded.window_start then rate_limit_counters.hits + 1 else 1 end,
    window_start = excluded.window_start
  returning hits`;
const PRUNE = "delete from rate_limit_counters where window_start < ?";

/**
 * Fixed-window counters shared by every instance through the database. One
 * upsert per hit, atomic on both databases (SQLite ≥ 3.35 and PostgreSQL
 * take the same statement), so concurrent hits never lose a count.
 */
export class RateLimitStore {
  /** Counts one hit for `key` in the window starting at `windowStart` (epoch ms); returns the window's count. */
  async hit(em: EntityManager, key: string, windowStart: number): Promise<number> {
    const [row] = await queryRows(em, HIT, [key, windowStart]);
    return Number(row?.hits ?? 0);
  }

  /** Deletes counters of windows that started before `windowStart`; returns how many. */
  prune(em: EntityManager, windowStart: number): Promise<number> {
    return execute(em, PRUNE, [windowStart]);
  }
}

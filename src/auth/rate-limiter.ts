import type { EntityManager } from "@mikro-orm/core";
import type { Clock } from "../clock";
import { queryRows } from "../db/sql";
import { rateLimited } from "../errors";

/**
 * A fixed-window counter per key, kept in the database so that every instance
 * shares it and a restart does not reset it. One upsert per hit; the same SQL
 * runs on SQLite (≥ 3.35) and PostgreSQL.
 */
export class RateLimiter {
  private readonly windowMs: number;

  constructor(
    private readonly limit: number,
    windowSeconds: number,
    private readonly clock: Clock,
  ) {
    this.windowMs = windowSeconds * 1000;
  }

  /** Counts a hit for `key`; throws RATE_LIMITED with `retryAfter` once the window's limit is used up. */
  async hit(em: EntityManager, key: string): Promise<void> {
    const now = this.clock.now().getTime();
    const windowStart = Math.floor(now / this.windowMs) * this.windowMs;
    const [row] = await queryRows(
      em,
      `insert into rate_limit_counters (key, window_start, hits) values (?, ?, 1)
       on conflict (key) do update set
         hits = case when rate_limit_counters.window_start = excluded.window_start then rate_limit_counters.hits + 1 else 1 end,
         window_start = excluded.window_start
       returning hits`,
      [key, windowStart],
    );
    if (Number(row?.hits ?? 0) > this.limit) throw rateLimited((windowStart + this.windowMs - now) / 1000);
  }

  /** Deletes counters of windows that have ended (operator `prune`). */
  async prune(em: EntityManager): Promise<number> {
    const current = Math.floor(this.clock.now().getTime() / this.windowMs) * this.windowMs;
    const result = await em
      .getConnection()
      .execute("delete from rate_limit_counters where window_start < ?", [current], "run");
    return Number((result as { affectedRows?: number }).affectedRows ?? 0);
  }
}

import type { Clock } from "../clock";
import type { Executor } from "../db/sql";
import type { RateLimitStore } from "../db/stores/rate-limit-store";
import { rateLimited } from "../errors";

/**
 * A fixed-window counter per key, kept in the database so that every instance
 * shares it and a restart does not reset it.
 */
export class RateLimiter {
  private readonly windowMs: number;

  constructor(
    private readonly store: RateLimitStore,
    private readonly limit: number,
    windowSeconds: number,
    private readonly clock: Clock,
  ) {
    this.windowMs = windowSeconds * 1000;
  }

  /** Counts a hit for `key`; throws RATE_LIMITED with `retryAfter` once the window's limit is used up. */
  async hit(em: Executor, key: string): Promise<void> {
    const now = this.clock.now().getTime();
    const windowEnd = (Math.floor(now / this.windowMs) + 1) * this.windowMs;
    const hits = await this.store.hit(em, key, windowEnd);
    if (hits > this.limit) throw rateLimited((windowEnd - now) / 1000);
  }
}

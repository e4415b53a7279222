import { createHash } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import type { Clock } from "../clock";
import { LoginFailure } from "../db/entities";
import { rateLimited } from "../errors";

export interface LoginThrottlePolicy {
  /** Failures for one email from one address before that pair is locked. */
  maxFailures: number;
  /** Sliding window in which failures count; also how long a lock lasts at most. */
  windowSeconds: number;
}

/** Failures for one email from all addresses together are throttled at this multiple. */
const ACCOUNT_WIDE_FACTOR = 10;

/**
 * Login throttling (NIST SP 800-63B §3.2.2, OWASP Authentication CS "account
 * lockout"), keyed on the email whether or not it has an account, so the
 * behaviour reveals nothing about which emails exist:
 * - per email and client address: after `maxFailures` failures in the window,
 *   every attempt, even with the right password, is refused until the oldest
 *   of them leaves the window;
 * - per email across addresses, at 10× that, against distributed guessing.
 * While locked nothing is hashed, so a locked account costs nothing to refuse.
 */
export class LoginThrottle {
  constructor(
    private readonly policy: LoginThrottlePolicy,
    private readonly clock: Clock,
  ) {}

  /** Throws RATE_LIMITED with `retryAfter` when the email is locked for this address. */
  async assertAllowed(em: EntityManager, email: string, ip: string | null): Promise<void> {
    const now = this.clock.now();
    const emailHash = hashEmail(email);
    const since = this.windowStart(now);
    const [pair, account] = await Promise.all([
      this.lockedUntil(em, { emailHash, ip: ip ?? "unknown", failedAt: { $gt: since } }, this.policy.maxFailures),
      this.lockedUntil(em, { emailHash, failedAt: { $gt: since } }, this.policy.maxFailures * ACCOUNT_WIDE_FACTOR),
    ]);
    const until = Math.max(pair, account);
    if (until > now.getTime()) throw rateLimited((until - now.getTime()) / 1000);
  }

  async recordFailure(em: EntityManager, email: string, ip: string | null): Promise<void> {
    const now = this.clock.now();
    const emailHash = hashEmail(email);
    em.create(LoginFailure, { emailHash, ip: ip ?? "unknown", failedAt: now });
    await em.flush();
    // Keep the table small: this email's failures that no longer count.
    await em.nativeDelete(LoginFailure, { emailHash, failedAt: { $lte: this.windowStart(now) } });
  }

  /** A successful login clears this address's failures for the email (not other addresses'). */
  async reset(em: EntityManager, email: string, ip: string | null): Promise<void> {
    await em.nativeDelete(LoginFailure, { emailHash: hashEmail(email), ip: ip ?? "unknown" });
  }

  private windowStart(now: Date): Date {
    return new Date(now.getTime() - this.policy.windowSeconds * 1000);
  }

  /**
   * With `limit` failures in the window the key is locked until the oldest of
   * the newest `limit` leaves it (epoch ms); 0 when not locked.
   */
  private async lockedUntil(em: EntityManager, where: object, limit: number): Promise<number> {
    const newest = await em.find(LoginFailure, where, { orderBy: { failedAt: "desc" }, limit, fields: ["failedAt"] });
    if (newest.length < limit) return 0;
    const oldest = newest[newest.length - 1];
    return oldest ? oldest.failedAt.getTime() + this.policy.windowSeconds * 1000 : 0;
  }
}

function hashEmail(email: string): string {
  return createHash("sha256").update(email, "utf8").digest("base64url");
}

import { createHmac } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import type { Clock } from "../clock";
import type { LoginAttemptStore } from "../db/stores/login-attempt-store";
import { transaction } from "../db/transaction";
import { rateLimited } from "../errors";
import type { SecretKeys } from "./secret-keys";

export interface LoginThrottlePolicy {
  /** Passwords checked for one email from one address, in a row without a success, within the window. */
  maxFailures: number;
  /** Sliding window in which attempts count; also how long a lock lasts at most. */
  windowSeconds: number;
}

/** Attempts for one email from all addresses together are throttled at this multiple. */
const ACCOUNT_WIDE_FACTOR = 10;

/** A granted place in the count: the right to check one password. */
export interface LoginPlace {
  readonly id: string;
  readonly emailKeys: readonly string[];
  readonly ip: string;
}

/**
 * Login throttling (NIST SP 800-63B §5.2.2 "Rate Limiting"; OWASP
 * Authentication Cheat Sheet, "Account lockout"), keyed on the email whether
 * or not it has an account, so the behaviour reveals nothing about which
 * emails exist:
 * - per email and client address: at most `maxFailures` passwords are checked
 *   in the window without a success in between; then every attempt, the right
 *   password too, is refused until the oldest of them leaves the window;
 * - per email across addresses, at 10× that, against distributed guessing.
 *
 * Exact under concurrency and across instances: an attempt first takes its
 * place in the count — one statement that counts and inserts, under a lock on
 * the email (`stores/login-attempt-store.ts`) — and only then is its password
 * checked. However many attempts arrive at once, on however many
 * instances, no more can be checked than there are places. A refused attempt
 * takes no place, hashes nothing and does not extend the lock.
 *
 * A wrong password keeps its place until it leaves the window. A right one
 * forgives (deletes) the places its address took for the email up to and
 * including its own, in the order they were granted: the limit is on
 * consecutive failures (NIST SP 800-63B §5.2.2), so the owner who mistyped a
 * few times is not locked out later, and guesses from other addresses still
 * count toward the account-wide limit.
 */
export class LoginThrottle {
  constructor(
    private readonly policy: LoginThrottlePolicy,
    private readonly store: LoginAttemptStore,
    private readonly keys: SecretKeys,
    private readonly clock: Clock,
  ) {}

  /**
   * Takes a place for checking one password of `email` from `ip`, or throws
   * RATE_LIMITED with `retryAfter` when there is none. Call it before the
   * password is hashed, and outside any other transaction.
   */
  async reserve(em: EntityManager, email: string, ip: string | null): Promise<LoginPlace> {
    const emailKeys = this.pseudonyms(email);
    const address = ip ?? "unknown";
    const { windowSeconds, maxFailures } = this.policy;
    const limits = { ofAddress: maxFailures, ofEmail: maxFailures * ACCOUNT_WIDE_FACTOR };
    const now = this.clock.now();
    const since = new Date(now.getTime() - windowSeconds * 1000);
    const grant = (db: EntityManager) => this.store.grant(db, emailKeys, address, now, since, limits);
    const id = this.store.grantNeedsLock
      ? await transaction(em, async (tx) => {
          await this.store.lockEmail(tx, emailKeys);
          return grant(tx);
        })
      : await grant(em);
    if (id !== null) return { id, emailKeys, ip: address };
    // Full: locked until the oldest attempt that fills it leaves the window. Read after the refusal, so a
    // place may have come free since (a success forgave it): then the client may try again in a second.
    const ofAddress = await this.store.nthNewest(em, emailKeys, address, since, limits.ofAddress);
    const ofEmail = await this.store.nthNewest(em, emailKeys, null, since, limits.ofEmail);
    const filledAt = Math.max(ofAddress?.getTime() ?? 0, ofEmail?.getTime() ?? 0);
    throw rateLimited(filledAt === 0 ? 1 : (filledAt + windowSeconds * 1000 - now.getTime()) / 1000);
  }

  /** The password was right: this address's places for the email, up to this one, are forgiven. */
  async succeeded(em: EntityManager, place: LoginPlace): Promise<void> {
    await this.store.forgive(em, place.emailKeys, place.ip, place.id);
  }

  /**
   * No password was checked after all (the hashing queue was full, the
   * database failed): the place goes back. A wrong password keeps its place.
   */
  async release(em: EntityManager, place: LoginPlace): Promise<void> {
    await this.store.release(em, place.id);
  }

  /**
   * Runs one check of a typed secret (a code, a passkey answer) in a place of
   * the count for `email`: if `check` throws, nothing was judged and the place
   * goes back; otherwise it stays, and is forgiven when `forgive` says the
   * check let the user in (not when a second factor is still to come).
   */
  async checkInPlace<T>(
    em: EntityManager,
    email: string,
    ip: string | null,
    check: () => Promise<T>,
    forgive: (result: T) => boolean,
  ): Promise<T> {
    const place = await this.reserve(em, email, ip);
    let result: T;
    try {
      result = await check();
    } catch (error) {
      await this.release(em, place).catch(() => undefined);
      throw error;
    }
    if (forgive(result)) await this.succeeded(em, place);
    return result;
  }

  /**
   * The owner proved control of the address (a password reset): every place
   * taken for it goes, from every address, so they can sign in at once
   * (BEHAVIOUR.md §7).
   */
  async clear(em: EntityManager, email: string): Promise<void> {
    await this.store.clear(em, this.pseudonyms(email));
  }

  /** The email's pseudonym under the current key, for other per-email counters (mail requests). */
  pseudonym(email: string): string {
    return this.pseudonyms(email)[0] as string;
  }

  /**
   * The email as the throttle stores it: HMAC-SHA-256 under a key derived
   * from SECRET_KEYS for this purpose only (not a bare SHA-256, which anyone
   * holding a list of emails could reverse). One per accepted key, the
   * current one first: new places are written under it, and counts include
   * places written under the others, so a key rotation resets no count.
   */
  private pseudonyms(email: string): string[] {
    return this.keys
      .all("email-pseudonym")
      .map(({ key }) => createHmac("sha256", key).update(email, "utf8").digest("base64url"));
  }
}

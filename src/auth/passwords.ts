import * as argon2 from "argon2";
import type { Argon2Cost, HashingLimits } from "../config";
import { badUserInput } from "../errors";
import { HashingQueue } from "./hashing-queue";
import { blocklistReason } from "./password-blocklist";

/** NIST SP 800-63B-4 asks for at least 64; a cap bounds the hashing cost. */
export const MAX_PASSWORD_LENGTH = 256;

/**
 * NFKC so that one password typed on different keyboards or OSes (é as one
 * code point or as e + U+0301) is one password. Never trimmed or case-folded
 * (OWASP ASVS 6.2.8: verify the password exactly as given).
 */
export function normalizePassword(raw: string): string {
  return raw.normalize("NFKC");
}

/** Length in Unicode code points: an emoji counts once, not as two UTF-16 units. */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Checks a new password (already normalised) against the policy of
 * BEHAVIOUR.md; throws BAD_USER_INPUT on `field` with the reason, as NIST
 * requires the verifier to say why a password was refused.
 */
export function assertAcceptablePassword(password: string, email: string, minLength: number, field: string): void {
  const length = codePointLength(password);
  if (length < minLength) throw badUserInput(field, `Password must be at least ${minLength} characters`);
  if (length > MAX_PASSWORD_LENGTH)
    throw badUserInput(field, `Password must be at most ${MAX_PASSWORD_LENGTH} characters`);
  const folded = password.toLowerCase();
  if (folded === email || folded === email.split("@")[0]) {
    throw badUserInput(field, "Password must not be your email address");
  }
  switch (blocklistReason(password)) {
    case "COMMON":
      throw badUserInput(
        field,
        "This password is too common (it appears in lists of breached passwords); choose another",
      );
    case "PATTERN":
      throw badUserInput(field, "This password is a simple repetition or sequence; choose another");
  }
}

/**
 * argon2id hashing with the configured cost. The dummy hash lets a login for
 * an unknown email spend one real verification, so its timing matches a wrong
 * password (OWASP Authentication CS, "quick exit").
 */
export class PasswordHasher {
  private constructor(
    private readonly options: argon2.HashOptions & { type: typeof argon2.argon2id },
    private readonly dummyHash: string,
    private readonly queue: HashingQueue,
  ) {}

  static async create(cost: Argon2Cost, limits: HashingLimits): Promise<PasswordHasher> {
    const options = { type: argon2.argon2id as typeof argon2.argon2id, ...cost };
    const dummy = await argon2.hash("dummy password that never matches anything", options);
    return new PasswordHasher(options, dummy, new HashingQueue(limits.maxConcurrent, limits.maxQueued));
  }

  /** argon2 operations running and waiting for a slot now. */
  get queueDepth(): { running: number; waiting: number } {
    return this.queue.depth;
  }

  /** RATE_LIMITED when too many hashes are already waiting. */
  hash(password: string): Promise<string> {
    return this.queue.run(() => argon2.hash(password, this.options));
  }

  /**
   * RATE_LIMITED when too many hashes are already waiting. A null hash (an
   * account with no password, made through an identity provider) fails after
   * the time of a real verification, so a password-less account answers a
   * login exactly like a wrong password (BEHAVIOUR.md §4).
   */
  verify(hash: string | null, password: string): Promise<boolean> {
    if (hash === null) return this.verifyDummy(password);
    return this.queue.run(async () => {
      try {
        return await argon2.verify(hash, password);
      } catch {
        // A malformed stored hash is a failed verification, never a 500.
        return false;
      }
    });
  }

  /** Spends the time of one verification and always fails. */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(this.dummyHash, password);
    return false;
  }

  /** True when the stored hash was made with other parameters than configured (DR-03). */
  needsRehash(hash: string | null): boolean {
    if (hash === null) return false;
    return !hash.startsWith("$argon2id$") || argon2.needsRehash(hash, this.options);
  }
}

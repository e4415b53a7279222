import { createHash, createHmac, randomBytes, randomInt, randomUUID, timingSafeEqual } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import type { SecretKeys } from "../auth/secret-keys";
import type { Clock } from "../clock";
import type { EmailTokenPurpose } from "../db/entities";
import type { EmailTokenStore, StoredEmailToken } from "../db/stores/email-token-store";

/** 256 random bits (BEHAVIOUR.md §7 asks for at least 128), base64url: 43 characters. */
const TOKEN_BYTES = 32;
/** Longer input cannot be a token of ours; refused before hashing. */
export const MAX_TOKEN_LENGTH = 64;
/** Wrong codes a sign-in mail's code survives (BEHAVIOUR.md §7): 5 guesses in a million. */
export const MAX_CODE_ATTEMPTS = 5;

export type TokenVerdict = "usable" | "unknown" | "used" | "expired" | "other-purpose" | "address-changed";

/**
 * Whether a mailed token may be used now for `purpose`: unused, unexpired,
 * for this purpose, and still for the account's address (for an email
 * change, the address it moves to is checked when it is confirmed). A pure
 * rule, tested as a table (tests/unit/email-tokens.test.ts).
 */
export function judgeEmailToken(
  token: Pick<StoredEmailToken, "purpose" | "sentTo" | "accountEmail" | "expiresAt" | "usedAt"> | null,
  purpose: EmailTokenPurpose,
  now: Date,
): TokenVerdict {
  if (token === null) return "unknown";
  if (token.purpose !== purpose) return "other-purpose";
  if (token.usedAt !== null) return "used";
  if (token.expiresAt.getTime() <= now.getTime()) return "expired";
  if (purpose !== "email-change" && token.sentTo !== token.accountEmail) return "address-changed";
  return "usable";
}

/** Whether a typed sign-in code may still be checked against this token. */
export function codeCheckable(
  token: Pick<StoredEmailToken, "sentTo" | "accountEmail" | "expiresAt" | "usedAt" | "codeHash" | "codeAttempts">,
  now: Date,
): boolean {
  return (
    token.codeHash !== null &&
    token.usedAt === null &&
    token.expiresAt.getTime() > now.getTime() &&
    token.sentTo === token.accountEmail &&
    token.codeAttempts < MAX_CODE_ATTEMPTS
  );
}

/** What a mail carries: the token for its link, and for a sign-in mail a 6-digit code. */
export interface IssuedEmailToken {
  token: string;
  code: string | null;
  expiresInMinutes: number;
}

/**
 * Issues, finds and uses mailed tokens. The token is 256 random bits; the
 * database holds its SHA-256 only (a copy of the table yields no usable
 * link). The 6-digit code is kept as an HMAC under a key derived from
 * SECRET_KEYS, since a bare hash of one of a million codes is reversed at
 * once.
 */
export class EmailTokens {
  constructor(
    private readonly store: EmailTokenStore,
    private readonly keys: SecretKeys,
    private readonly ttlSeconds: Readonly<Record<EmailTokenPurpose, number>>,
    private readonly clock: Clock,
  ) {}

  /** In the caller's transaction: a new token of `purpose` for the user, voiding the one before. */
  async issue(
    tx: EntityManager,
    user: { id: string },
    purpose: EmailTokenPurpose,
    sentTo: string,
  ): Promise<IssuedEmailToken> {
    const now = this.clock.now();
    const ttl = this.ttlSeconds[purpose];
    const token = randomBytes(TOKEN_BYTES).toString("base64url");
    const id = randomUUID();
    let code: string | null = null;
    let codeHash: string | null = null;
    let codeKeyId: string | null = null;
    if (purpose === "sign-in") {
      code = randomInt(0, 1_000_000).toString().padStart(6, "0");
      const key = this.keys.current("email-code");
      codeHash = codeMac(key.key, user.id, code);
      codeKeyId = key.id.toString("hex");
    }
    await this.store.issue(tx, {
      id,
      userId: user.id,
      purpose,
      sentTo,
      tokenHash: hashToken(token),
      codeHash,
      codeKeyId,
      now,
      expiresAt: new Date(now.getTime() + ttl * 1000),
    });
    return { token, code, expiresInMinutes: Math.round(ttl / 60) };
  }

  /** The stored token a presented one names, judged for `purpose`; reads only. */
  async find(
    em: EntityManager,
    presented: string,
    purpose: EmailTokenPurpose,
  ): Promise<{ verdict: TokenVerdict; token: StoredEmailToken | null }> {
    const token = isTokenShaped(presented) ? await this.store.findByHash(em, hashToken(presented)) : null;
    return { verdict: judgeEmailToken(token, purpose, this.clock.now()), token };
  }

  /**
   * In the caller's transaction: uses the presented token, if it still is
   * usable; false when another request used or replaced it first.
   */
  async use(tx: EntityManager, stored: StoredEmailToken, presented: string): Promise<boolean> {
    return this.store.consume(tx, stored.id, hashToken(presented), this.clock.now());
  }

  /**
   * In the caller's transaction: checks a typed sign-in code for the account
   * with this email. Right: the token is used. Wrong: the try is counted
   * (the caller must commit, not roll back). Null: no code to check.
   */
  async useCode(tx: EntityManager, email: string, code: string): Promise<{ userId: string } | "wrong" | null> {
    const token = await this.store.lockByAccountEmail(tx, email, "sign-in");
    const now = this.clock.now();
    if (token === null || !codeCheckable(token, now)) return null;
    const key =
      token.codeKeyId === null ? undefined : this.keys.byId("email-code", Buffer.from(token.codeKeyId, "hex"));
    // The key that made it was removed from SECRET_KEYS since: the code can no longer be checked.
    if (key === undefined || token.codeHash === null) return null;
    const expected = Buffer.from(token.codeHash, "base64url");
    const typed = Buffer.from(codeMac(key.key, token.userId, code), "base64url");
    if (!timingSafeEqual(expected, typed)) {
      await this.store.countWrongCode(tx, token.id);
      return "wrong";
    }
    return (await this.store.consumeLocked(tx, token.id, now)) ? { userId: token.userId } : null;
  }

  /** In the caller's transaction: the user's address changed; every token was bound to the old one. */
  voidAll(tx: EntityManager, userId: string): Promise<void> {
    return this.store.deleteAllOfUser(tx, userId);
  }
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("base64url");
}

/** Bound to the user, so a code's MAC from one account is worth nothing for another. */
function codeMac(key: Buffer, userId: string, code: string): string {
  return createHmac("sha256", key).update(`email-code|${userId}|${code}`, "utf8").digest("base64url");
}

function isTokenShaped(presented: string): boolean {
  return presented.length > 0 && presented.length <= MAX_TOKEN_LENGTH && /^[A-Za-z0-9_-]+$/.test(presented);
}

import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import type { MfaRequirement, SecondFactorGate } from "../auth/second-factor-gate";
import type { ClientInfo, IssuedTokens, Sessions } from "../auth/sessions";
import type { Clock } from "../clock";
import type { MfaChallengeStore, StoredMfaChallenge } from "../db/stores/mfa-challenge-store";
import type { UserStore } from "../db/stores/user-store";
import { transaction } from "../db/transaction";
import { invalidToken } from "../errors";
import type { SecondFactors } from "./second-factors";

/** BEHAVIOUR.md §3: an mfaToken lives 5 minutes. */
export const MFA_CHALLENGE_TTL_SECONDS = 300;
/** BEHAVIOUR.md §8: an mfaToken dies after 5 wrong codes. */
export const MFA_MAX_ATTEMPTS = 5;
/** 256 random bits (≥ 128 asked), base64url: 43 characters. */
const TOKEN_BYTES = 32;
/** Longer input cannot be one of ours; refused before hashing. */
const MAX_TOKEN_LENGTH = 64;
/** RFC 8176 has no value for "two factors"; `mfa` says that more than one was used. */
const MFA_AMR = "mfa";

/** A challenge that may still be completed. */
export interface OpenMfaChallenge {
  id: string;
  userId: string;
  /** How the first factor was proved (`["pwd"]`, `["email"]`). */
  firstAmr: string[];
}

/**
 * MFA challenges (BEHAVIOUR.md §8): the state between a right first factor
 * and the second. The client holds an opaque `mfaToken` (256 random bits);
 * the database only its SHA-256, the user, the first factor's amr, the wrong
 * attempts so far, when it expires and whether it was used.
 *
 * For every second factor, the sequence is: `find(mfaToken)`; check the
 * factor; then `complete` (or `completeIn` inside the transaction that used
 * the factor), or `countWrong` when it was wrong. `complete` uses the
 * challenge with one conditional UPDATE: of concurrent completions exactly
 * one starts a session, on any number of instances.
 */
export class MfaChallenges implements SecondFactorGate {
  constructor(
    private readonly store: MfaChallengeStore,
    private readonly factors: SecondFactors,
    private readonly sessions: Sessions,
    private readonly users: UserStore,
    private readonly clock: Clock,
  ) {}

  /** The gate of the first factors: a challenge when the user has a second factor, else null. */
  async challengeIfEnrolled(
    tx: EntityManager,
    userId: string,
    firstAmr: readonly string[],
  ): Promise<MfaRequirement | null> {
    const methods = await this.factors.methodsOf(tx, userId);
    if (methods.length === 0) return null;
    const mfaToken = randomBytes(TOKEN_BYTES).toString("base64url");
    const now = this.clock.now();
    await this.store.insert(tx, {
      id: randomUUID(),
      userId,
      tokenHash: hashOf(mfaToken),
      firstAmr,
      now,
      expiresAt: new Date(now.getTime() + MFA_CHALLENGE_TTL_SECONDS * 1000),
    });
    return { mfaToken, methods };
  }

  /** The challenge of `mfaToken` if it may still be completed: known, unused, unexpired, fewer than 5 wrong attempts. */
  async find(em: EntityManager, mfaToken: string): Promise<OpenMfaChallenge | null> {
    if (mfaToken.length === 0 || mfaToken.length > MAX_TOKEN_LENGTH) return null;
    const found = await this.store.findByHash(em, hashOf(mfaToken));
    return found !== null && this.isOpen(found) ? openOf(found) : null;
  }

  /**
   * Uses the challenge and starts the session in a transaction of its own:
   * amr = first factor's + `secondAmr` + `mfa`. INVALID_TOKEN when it was
   * used (by a concurrent request), expired or died meanwhile.
   */
  complete(
    em: EntityManager,
    challengeId: string,
    secondAmr: readonly string[],
    client: ClientInfo,
  ): Promise<IssuedTokens> {
    return transaction(em, (tx) => this.completeIn(tx, challengeId, secondAmr, client));
  }

  /**
   * `complete` inside the caller's transaction, which locked the challenge
   * first (`lock`) and used the factor (a TOTP step, a recovery code) after
   * it: throwing rolls the factor's use back too.
   */
  async completeIn(
    tx: EntityManager,
    challengeId: string,
    secondAmr: readonly string[],
    client: ClientInfo,
  ): Promise<IssuedTokens> {
    const challenge = await this.store.lock(tx, challengeId);
    if (challenge === null || !(await this.store.use(tx, challengeId, this.clock.now(), MFA_MAX_ATTEMPTS)))
      throw invalidToken();
    const user = await this.users.findById(tx, challenge.userId);
    // The account was deleted meanwhile.
    if (user === null) throw invalidToken();
    const amr = [...new Set([...challenge.firstAmr, ...secondAmr, MFA_AMR])];
    return this.sessions.start(tx, user, client, amr);
  }

  /**
   * Inside a transaction, first of all (the lock order): locks the challenge
   * and says whether it is still open. Null when not.
   */
  async lock(tx: EntityManager, challengeId: string): Promise<OpenMfaChallenge | null> {
    const found = await this.store.lock(tx, challengeId);
    return found !== null && this.isOpen(found) ? openOf(found) : null;
  }

  /** A wrong second factor: one attempt fewer; at 5 the challenge is dead. */
  async countWrong(em: EntityManager, challengeId: string): Promise<void> {
    await this.store.countWrong(em, challengeId);
  }

  private isOpen(c: StoredMfaChallenge): boolean {
    return c.usedAt === null && c.expiresAt.getTime() > this.clock.now().getTime() && c.attempts < MFA_MAX_ATTEMPTS;
  }
}

function hashOf(mfaToken: string): string {
  return createHash("sha256").update(mfaToken, "utf8").digest("base64url");
}

function openOf(c: StoredMfaChallenge): OpenMfaChallenge {
  return { id: c.id, userId: c.userId, firstAmr: c.firstAmr };
}

import type { EntityManager } from "@mikro-orm/core";
import type { MfaMethod } from "../errors";

/** What `User.secondFactors` lists (the contract's enum). */
export type SecondFactorKind = "TOTP" | "PASSKEY";

/**
 * One kind of second factor a user may have, as the sign-in needs to know
 * it. `secondFactorSources()` in services.ts is the one place that says
 * which kinds exist: adding passkeys is adding one more source there.
 */
export interface SecondFactorSource {
  /** What `User.secondFactors` lists when the user has it; null for a fallback that is no factor of its own (recovery codes). */
  readonly factor: SecondFactorKind | null;
  /** What MFA_REQUIRED's `methods` lists when the user has it. */
  readonly method: MfaMethod;
  has(em: EntityManager, userId: string): Promise<boolean>;
  /** Removes all of the user's (`reset-mfa`), in the caller's transaction; true when there was any. */
  removeAll(tx: EntityManager, userId: string): Promise<boolean>;
}

/** Which second factors a user has, across every registered source. */
export class SecondFactors {
  /** The list is made in one place, `secondFactorSources()` in services.ts, for the server and the CLI alike. */
  constructor(private readonly sources: readonly SecondFactorSource[]) {}

  /** `User.secondFactors`: the factors the user has set up, in registration order, each once. */
  async factorsOf(em: EntityManager, userId: string): Promise<SecondFactorKind[]> {
    const factors: SecondFactorKind[] = [];
    for (const source of this.sources) {
      if (source.factor !== null && !factors.includes(source.factor) && (await source.has(em, userId)))
        factors.push(source.factor);
    }
    return factors;
  }

  /**
   * What a sign-in may be completed with: empty when the user has no factor
   * of its own (a fallback alone, such as leftover recovery codes, asks for
   * nothing), else every method the user has.
   */
  async methodsOf(em: EntityManager, userId: string): Promise<MfaMethod[]> {
    const held = new Set<SecondFactorSource>();
    // The factors first: most users have none, and then no fallback is asked about (one statement fewer per sign-in).
    for (const source of this.sources) if (source.factor !== null && (await source.has(em, userId))) held.add(source);
    if (held.size === 0) return [];
    for (const source of this.sources) if (source.factor === null && (await source.has(em, userId))) held.add(source);
    return [...new Set(this.sources.filter((source) => held.has(source)).map((source) => source.method))];
  }

  /** Removes every second factor of the user in `tx`; the kinds that were there (for the operator's report). */
  async removeAll(tx: EntityManager, userId: string): Promise<MfaMethod[]> {
    const removed: MfaMethod[] = [];
    for (const source of this.sources) if (await source.removeAll(tx, userId)) removed.push(source.method);
    return removed;
  }
}

import type { EntityManager } from "@mikro-orm/core";
import type { MfaMethod } from "../errors";

/** What a sign-in whose first factor was right answers instead of a session. */
export interface MfaRequirement {
  /** The opaque token for `verifyMfa`: shown to the client once, kept only as a hash. */
  mfaToken: string;
  methods: MfaMethod[];
}

/**
 * BEHAVIOUR.md §8, seen from the first factor (a password in `accounts.ts`, a
 * mailed link or code in `email/email-accounts.ts`): after it was checked,
 * in the transaction that would start the session, ask the gate. Null: the
 * user has no second factor, start the session. Otherwise the gate has
 * written an MFA challenge in `tx` and the caller, once `tx` committed,
 * answers MFA_REQUIRED with it. Implemented by `mfa/mfa-challenges.ts`.
 */
export interface SecondFactorGate {
  challengeIfEnrolled(tx: EntityManager, userId: string, firstAmr: readonly string[]): Promise<MfaRequirement | null>;
}

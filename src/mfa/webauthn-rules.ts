import type { StoredChallenge } from "../db/stores/webauthn-challenge-store";

/** How long a ceremony may take (BEHAVIOUR.md §8), seconds; also the options' `timeout`. */
export const CHALLENGE_TTL_SECONDS = 300;

export type ChallengeVerdict = "usable" | "unknown" | "used" | "expired" | "other-purpose";

/** What a finishing ceremony must match. */
export interface ExpectedCeremony {
  purpose: StoredChallenge["purpose"];
  /** Who finishes: a ceremony started for one user is no one else's. Absent for a discoverable sign-in. */
  userId?: string | undefined;
  /** Compared exactly: a challenge started for an MFA sign-in is not a plain sign-in's, and the reverse. */
  binding?: string | undefined;
}

/**
 * Whether a ceremony may be finished now, as expected. A pure rule, tested
 * as a table (tests/unit/webauthn-rules.test.ts). A ceremony started without
 * a user (a discoverable sign-in) may be finished for one (re-authentication:
 * the passkey must then be that user's); one started for a user only by them.
 * Anything that does not match is "other-purpose": one answer, INVALID_TOKEN.
 */
export function judgeChallenge(
  challenge: Pick<StoredChallenge, "purpose" | "userId" | "binding" | "expiresAt" | "usedAt"> | null,
  expected: ExpectedCeremony,
  now: Date,
): ChallengeVerdict {
  if (challenge === null) return "unknown";
  if (challenge.purpose !== expected.purpose) return "other-purpose";
  if (challenge.userId !== null && challenge.userId !== expected.userId) return "other-purpose";
  if (challenge.binding !== (expected.binding ?? null)) return "other-purpose";
  if (challenge.usedAt !== null) return "used";
  if (challenge.expiresAt.getTime() <= now.getTime()) return "expired";
  return "usable";
}

/**
 * WebAuthn Level 2 §6.1.1 and §7.2 step 21: an authenticator that keeps a
 * signature counter increases it with every assertion, so a counter that
 * does not go forward means two authenticators hold the same private key,
 * one of them a clone. Authenticators that keep no counter (synced passkeys)
 * always say 0; only 0 after 0 is normal for them.
 */
export function signCountVerdict(stored: number, presented: number): "ok" | "cloned" {
  if (stored === 0 && presented === 0) return "ok";
  return presented > stored ? "ok" : "cloned";
}

/**
 * RFC 8176 for a passkey sign-in: possession of a key (`hwk` when it never
 * leaves its device, `swk` for a synced passkey: the key is copied through
 * the user's cloud account, so it is not hardware-bound), a user-verification
 * gesture (`user`), and the two together count as two factors (`mfa`).
 */
export function passkeyAmr(deviceType: "singleDevice" | "multiDevice"): string[] {
  return [deviceType === "multiDevice" ? "swk" : "hwk", "user", "mfa"];
}

/** Passkey labels (BEHAVIOUR.md §8): 1–64 characters (code points), one line, not blank. */
export const MAX_PASSKEY_NAME_LENGTH = 64;

export function passkeyNameProblem(name: string): string | null {
  const length = [...name].length;
  if (length < 1 || length > MAX_PASSKEY_NAME_LENGTH)
    return `The name must be 1 to ${MAX_PASSKEY_NAME_LENGTH} characters`;
  if (/\p{Cc}/u.test(name)) return "The name must be one line without control characters";
  if (name.trim() === "") return "The name must not be blank";
  return null;
}

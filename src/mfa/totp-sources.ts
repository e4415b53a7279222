import type { RecoveryCodeStore } from "../db/stores/recovery-code-store";
import type { TotpStore } from "../db/stores/totp-store";
import type { SecondFactorSource } from "./second-factors";

/** An active (confirmed) authenticator app: a factor of its own. Needs no key: it only looks and deletes. */
export function totpSource(store: TotpStore): SecondFactorSource {
  return {
    factor: "TOTP",
    method: "TOTP",
    has: (em, userId) => store.hasConfirmed(em, userId),
    removeAll: (tx, userId) => store.deleteOfUser(tx, userId),
  };
}

/** Unused recovery codes: a way in when the app is lost, not a factor (they come with the app). */
export function recoveryCodeSource(store: RecoveryCodeStore): SecondFactorSource {
  return {
    factor: null,
    method: "RECOVERY_CODE",
    has: async (em, userId) => (await store.countUnused(em, userId)) > 0,
    removeAll: (tx, userId) => store.deleteOfUser(tx, userId),
  };
}

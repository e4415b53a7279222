import type { PasskeyStore } from "../db/stores/passkey-store";
import type { SecondFactorSource } from "./second-factors";

/**
 * Passkeys as a second factor (BEHAVIOUR.md §8): a user with one is asked for
 * a second factor after a password or a mailed link, and may answer with it.
 * Like the TOTP source it needs no key: it only looks and deletes, so the
 * operator's `reset-mfa` removes passkeys with the rest.
 */
export function passkeySource(store: PasskeyStore): SecondFactorSource {
  return {
    factor: "PASSKEY",
    method: "PASSKEY",
    has: async (em, userId) => (await store.countOfUser(em, userId)) > 0,
    removeAll: async (tx, userId) => (await store.deleteAllOfUser(tx, userId)) > 0,
  };
}

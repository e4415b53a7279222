import type { EntityManager } from "@mikro-orm/core";
import type { LoginThrottle } from "../auth/login-throttle";
import type { ClientInfo } from "../auth/sessions";

/**
 * BEHAVIOUR.md §10: a second-factor code (or passkey) counts toward the login
 * throttle of the account's email like a password. The check takes its place
 * first; a wrong answer (null) keeps it until it leaves the window; a right
 * one forgives this address's places up to it (the password of the same
 * sign-in among them: a password alone never forgives, see `accounts.ts`).
 * When the check fails before judging anything (a dead challenge, the
 * database), the place goes back.
 */
export async function throttledCheck<T>(
  throttle: LoginThrottle,
  em: EntityManager,
  email: string,
  client: ClientInfo,
  check: () => Promise<T | null>,
): Promise<T | null> {
  return throttle.checkInPlace(em, email, client.ip, check, (result) => result !== null);
}

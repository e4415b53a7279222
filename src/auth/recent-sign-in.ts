import { reauthenticationRequired } from "../errors";

/**
 * BEHAVIOUR.md §8 (OWASP ASVS 6.3.x, "re-authentication before sensitive
 * changes"): an operation that could hand the account to someone else needs
 * the access token's `auth_time` within `maxAgeSeconds` of now. A token
 * without `auth_time` (signed before it existed) is not recent. A sign-in
 * dated in the future beyond the JWT clock tolerance is not trusted either.
 */
export function isRecentSignIn(authTime: number | undefined, now: Date, maxAgeSeconds: number): boolean {
  if (authTime === undefined) return false;
  const age = now.getTime() / 1000 - authTime;
  return age <= maxAgeSeconds && age >= -5;
}

export function assertRecentSignIn(authTime: number | undefined, now: Date, maxAgeSeconds: number): void {
  if (!isRecentSignIn(authTime, now, maxAgeSeconds)) throw reauthenticationRequired();
}

import { badUserInput } from "../errors";

export const MAX_EMAIL_LENGTH = 254;

// The WHATWG "valid email address" grammar (what <input type=email> accepts),
// lower-cased. Deliberately ASCII-only: look-alikes such as U+FF20 "＠" are
// refused instead of being folded into "@" (the CWE-180 pattern behind past
// auth-library CVEs); internationalised domains are given in punycode.
const LOCAL_PART = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+$/;
const DOMAIN_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Trim and lower-case: " Alice@Example.COM" and "alice@example.com" are one account. */
export function normalizeEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

export function isValidEmail(email: string): boolean {
  if (email.length > MAX_EMAIL_LENGTH) return false;
  const parts = email.split("@");
  if (parts.length !== 2) return false;
  const [local, domain] = parts as [string, string];
  if (local.length === 0 || local.length > 64 || !LOCAL_PART.test(local)) return false;
  const labels = domain.split(".");
  return labels.length >= 2 && labels.every((label) => DOMAIN_LABEL.test(label));
}

/** Normalises and validates an email given at registration. */
export function parseNewEmail(raw: string, field = "email"): string {
  const email = normalizeEmail(raw);
  if (email.length > MAX_EMAIL_LENGTH) {
    throw badUserInput(field, `Email must be at most ${MAX_EMAIL_LENGTH} characters`);
  }
  if (!isValidEmail(email)) {
    throw badUserInput(field, "Email must look like name@example.com");
  }
  return email;
}

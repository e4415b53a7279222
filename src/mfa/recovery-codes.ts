import { createHash, randomBytes } from "node:crypto";

/** BEHAVIOUR.md §8: ten single-use codes. */
export const RECOVERY_CODE_COUNT = 10;

/** RFC 4648 base32 without the padding; typed case-insensitively. */
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
/** 16 characters of base32: 80 random bits, shown as four groups of four. */
const CODE_CHARACTERS = 16;

/**
 * A new recovery code, e.g. `k7qd-3mzp-x2wa-fh5t`. 80 bits are enough that a
 * plain SHA-256 of it is safe to store (no key, so no dependence on
 * SECRET_KEYS: a rotation can never make them stop working) and that
 * guessing one online is hopeless even without the login throttle.
 */
export function newRecoveryCode(): string {
  const bytes = randomBytes(CODE_CHARACTERS);
  // 256 is a multiple of 32: taking each byte mod 32 is uniform.
  const chars = [...bytes].map((b) => ALPHABET[b % 32]).join("");
  return chars.match(/.{4}/g)?.join("-") ?? chars;
}

/** What a user typed, as stored: lower case, without spaces or hyphens; null when it cannot be a code. */
export function normalizeRecoveryCode(typed: string): string | null {
  const code = typed.toLowerCase().replace(/[\s-]+/g, "");
  return code.length === CODE_CHARACTERS && [...code].every((c) => ALPHABET.includes(c)) ? code : null;
}

/** SHA-256 (base64url) of a normalised code. */
export function hashRecoveryCode(normalized: string): string {
  return createHash("sha256").update(normalized, "utf8").digest("base64url");
}

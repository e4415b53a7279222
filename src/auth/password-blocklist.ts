import { dictionary } from "@zxcvbn-ts/language-common";

/**
 * NIST SP 800-63B-4 §3.1.1.2: verifiers compare prospective passwords against
 * a blocklist of commonly used, expected or compromised values, and
 * "repetitive or sequential characters". The list is zxcvbn-ts' ~49,000
 * passwords from breach corpora, loaded once per process.
 */
const COMMON = new Set<string>(dictionary["passwords-common"]);

// Runs along these read as "sequential": digits, the alphabet, keyboard rows.
const SEQUENCES = [
  "0123456789",
  "abcdefghijklmnopqrstuvwxyz",
  "qwertyuiopasdfghjklzxcvbnm",
  "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
];
const SEQUENCE_TEXT = SEQUENCES.flatMap((s) => {
  const cycled = s.repeat(3);
  return [cycled, [...cycled].reverse().join("")];
}).join("\n");

export type BlocklistReason = "COMMON" | "PATTERN";

/** Why a (normalised) password is refused, or null when it is acceptable. */
export function blocklistReason(password: string): BlocklistReason | null {
  const folded = password.toLowerCase();
  if (COMMON.has(folded)) return "COMMON";
  if (SEQUENCE_TEXT.includes(folded)) return "PATTERN";
  const unit = repeatedUnit(folded);
  if (unit !== null && (unit.length <= 4 || COMMON.has(unit) || SEQUENCE_TEXT.includes(unit))) return "PATTERN";
  return null;
}

/** The shortest string that, repeated twice or more, gives `s` ("abab" → "ab"). */
function repeatedUnit(s: string): string | null {
  const chars = [...s];
  for (let size = 1; size <= chars.length / 2; size++) {
    if (chars.length % size !== 0) continue;
    const unit = chars.slice(0, size).join("");
    if (unit.repeat(chars.length / size) === s) return unit;
  }
  return null;
}

export const COMMON_PASSWORD_COUNT = COMMON.size;

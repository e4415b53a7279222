import { randomBytes, timingSafeEqual } from "node:crypto";
import { Secret, TOTP } from "otpauth";

/**
 * RFC 6238 as BEHAVIOUR.md §8 fixes it: HMAC-SHA-1, 6 digits, 30-second
 * steps, what every authenticator app supports. The codes come from
 * `otpauth`; the decision which step a code belongs to, and whether it may be
 * used, is here, as plain functions.
 */
export const TOTP_PARAMETERS = { algorithm: "SHA1", digits: 6, period: 30 } as const;

/** RFC 6238 §5.2: one step either side absorbs clock drift and typing time; no more. */
export const TOTP_WINDOW = 1;

/** RFC 4226 §4 R6: a shared secret of 160 bits (the length of a SHA-1 output). */
export const TOTP_SECRET_BYTES = 20;

/** A new secret: 160 random bits. */
export function newTotpSecret(): Buffer {
  return randomBytes(TOTP_SECRET_BYTES);
}

/** The secret as authenticator apps take it typed in: RFC 4648 base32, no padding. */
export function base32Of(secret: Buffer): string {
  return new Secret({ buffer: Uint8Array.from(secret).buffer }).base32;
}

/** The time step of a moment (RFC 6238 §4: T = floor((now − T0) / X), T0 = 0). */
export function totpStep(now: Date, period: number = TOTP_PARAMETERS.period): number {
  return Math.floor(now.getTime() / 1000 / period);
}

/** The code of one step; `digits` is 6 here, 8 for RFC 6238's own test vectors. */
export function totpCode(secret: Buffer, step: number, digits: number = TOTP_PARAMETERS.digits): string {
  return TOTP.generate({
    secret: new Secret({ buffer: Uint8Array.from(secret).buffer }),
    algorithm: TOTP_PARAMETERS.algorithm,
    digits,
    period: TOTP_PARAMETERS.period,
    timestamp: step * TOTP_PARAMETERS.period * 1000,
  });
}

/** What a user types: 6 digits, spaces allowed ("123 456" as some apps show it). */
export function parseTotpCode(typed: string): string | null {
  const code = typed.replace(/\s+/g, "");
  return /^\d{6}$/.test(code) ? code : null;
}

/**
 * The step whose code `code` is, within ±TOTP_WINDOW of now, that is later
 * than `lastUsedStep`; null when there is none. A code is accepted at most
 * once (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of
 * the OTP after the successful validation"): a step at or before the last
 * accepted one is refused, so a code seen over a shoulder or phished cannot
 * be used again, and neither can an older code once a newer one was used.
 * Every candidate is compared in constant time.
 */
export function matchTotpStep(secret: Buffer, code: string, now: Date, lastUsedStep: number | null): number | null {
  const current = totpStep(now);
  const typed = Buffer.from(code, "utf8");
  let matched: number | null = null;
  for (let step = current - TOTP_WINDOW; step <= current + TOTP_WINDOW; step++) {
    const expected = Buffer.from(totpCode(secret, step), "utf8");
    const equal = expected.length === typed.length && timingSafeEqual(expected, typed);
    if (equal && matched === null && (lastUsedStep === null || step > lastUsedStep)) matched = step;
  }
  return matched;
}

/**
 * The `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER&…` URI of Google
 * Authenticator's Key Uri Format, which every app reads from a QR code.
 */
export function totpUri(secret: Buffer, issuer: string, account: string): string {
  return new TOTP({
    issuer,
    label: account,
    issuerInLabel: true,
    secret: new Secret({ buffer: Uint8Array.from(secret).buffer }),
    ...TOTP_PARAMETERS,
  }).toString();
}

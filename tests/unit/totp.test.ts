import { Secret, TOTP } from "otpauth";
import { describe, expect, it } from "vitest";
import { hashRecoveryCode, newRecoveryCode, normalizeRecoveryCode } from "../../src/mfa/recovery-codes";
import { base32Of, matchTotpStep, parseTotpCode, totpCode, totpStep, totpUri } from "../../src/mfa/totp";

// RFC 6238 Appendix B: the SHA-1 test vectors (8 digits, the ASCII seed "12345678901234567890").
const SEED = Buffer.from("12345678901234567890", "ascii");
const VECTORS: Array<[seconds: number, code: string]> = [
  [59, "94287082"],
  [1111111109, "07081804"],
  [1111111111, "14050471"],
  [1234567890, "89005924"],
  [2000000000, "69279037"],
  [20000000000, "65353130"],
];

describe("TOTP (src/mfa/totp.ts)", () => {
  it.each(VECTORS)("gives RFC 6238's SHA-1 code at T = %i s", (seconds, code) => {
    expect(totpCode(SEED, totpStep(new Date(seconds * 1000)), 8)).toBe(code);
  });

  it("makes 6-digit codes as an authenticator app does", () => {
    const secret = Buffer.from("0123456789abcdef0123", "ascii");
    const at = new Date(1_700_000_000_000);
    const app = TOTP.generate({ secret: Secret.fromBase32(base32Of(secret)), timestamp: at.getTime() });
    expect(totpCode(secret, totpStep(at))).toBe(app);
    expect(app).toMatch(/^\d{6}$/);
  });

  it("accepts one step either side, refuses two, and refuses steps at or before the last used", () => {
    const now = new Date(1_700_000_015_000);
    const step = totpStep(now);
    const at = (offset: number) => totpCode(SEED, step + offset);
    expect(matchTotpStep(SEED, at(0), now, null)).toBe(step);
    expect(matchTotpStep(SEED, at(-1), now, null)).toBe(step - 1);
    expect(matchTotpStep(SEED, at(1), now, null)).toBe(step + 1);
    expect(matchTotpStep(SEED, at(-2), now, null)).toBeNull();
    expect(matchTotpStep(SEED, at(2), now, null)).toBeNull();
    // Replay: the same step again, or an older one after a newer.
    expect(matchTotpStep(SEED, at(0), now, step)).toBeNull();
    expect(matchTotpStep(SEED, at(-1), now, step)).toBeNull();
    expect(matchTotpStep(SEED, at(1), now, step)).toBe(step + 1);
  });

  it("reads typed codes and builds the otpauth URI", () => {
    expect(parseTotpCode(" 123 456 ")).toBe("123456");
    expect(parseTotpCode("12345")).toBeNull();
    expect(parseTotpCode("１２３４５６")).toBeNull(); // full-width digits are no code
    const uri = totpUri(SEED, "Acme", "alice@example.com");
    expect(uri).toBe(
      "otpauth://totp/Acme:alice%40example.com?issuer=Acme&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6&period=30",
    );
  });
});

describe("recovery codes (src/mfa/recovery-codes.ts)", () => {
  it("are 80 random bits in four groups, read case- and separator-insensitively", () => {
    const codes = Array.from({ length: 200 }, newRecoveryCode);
    expect(new Set(codes).size).toBe(200);
    for (const code of codes) expect(code).toMatch(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
    const [code] = codes as [string];
    const normalized = normalizeRecoveryCode(code);
    expect(normalizeRecoveryCode(code.toUpperCase().replaceAll("-", " "))).toBe(normalized);
    expect(normalizeRecoveryCode("not a code")).toBeNull();
    expect(hashRecoveryCode(normalized as string)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

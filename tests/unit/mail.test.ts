import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SecretKeys } from "../../src/auth/secret-keys";
import { PayloadCipher, PayloadKeyMissingError } from "../../src/mail/payload-cipher";
import { backoffSeconds, DEFAULT_RETRY_POLICY, describeError } from "../../src/mail/worker";

// The outbox's pure parts: the retry schedule, what an error may say, the payload's sealing.

describe("the retry schedule", () => {
  it("doubles from 30 s up to an hour, spread ±25 %", () => {
    const middle = (attempts: number) => backoffSeconds(attempts, DEFAULT_RETRY_POLICY, 0.5);
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 50, 5000].map(middle)).toEqual([
      30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600,
    ]);
    expect(backoffSeconds(1, DEFAULT_RETRY_POLICY, 0)).toBe(22.5);
    expect(backoffSeconds(1, DEFAULT_RETRY_POLICY, 1)).toBe(37.5);
  });

  it("keeps trying for 24 hours with a few dozen attempts, whatever the jitter", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 100, maxLength: 100 }),
        (jitter) => {
          // Attempt n fails at `elapsed`; the next comes after its back-off, until a failure 24 h after queueing.
          let elapsed = 0;
          let attempts = 1;
          while (elapsed < DEFAULT_RETRY_POLICY.retryFor) {
            elapsed += backoffSeconds(attempts, DEFAULT_RETRY_POLICY, jitter[attempts] ?? 0.5);
            attempts++;
          }
          expect(attempts).toBeGreaterThanOrEqual(24);
          expect(attempts).toBeLessThanOrEqual(40);
        },
      ),
    );
  });
});

describe("an error as stored and logged", () => {
  it("keeps the code and the SMTP reply, cuts out every param value, and stays short", () => {
    const error = Object.assign(
      new Error("Message rejected: contains https://app.example/x?token=tok_abc123 for 482915"),
      {
        code: "EMESSAGE",
        responseCode: 554,
      },
    );
    expect(describeError(error, ["https://app.example/x?token=tok_abc123", "482915", "10"])).toBe(
      "EMESSAGE 554 Message rejected: contains [redacted] for [redacted]",
    );
    expect(describeError(new Error("x".repeat(2000)), []).length).toBe(500);
    expect(describeError("a string\nthrown", [])).toBe("a string thrown");
  });
});

describe("the sealed payload", () => {
  const params = { link: "https://app.example/sign-in?token=tok_sealed", code: "123456", expiresInMinutes: "10" };
  const keyA = randomBytes(32);
  const keyB = randomBytes(32);

  it("opens with the key that sealed it, also after a rotation that keeps it listed", () => {
    const sealed = new PayloadCipher(new SecretKeys([keyA])).seal(params, "row-1");
    expect(sealed).not.toContain("tok_sealed");
    expect(Buffer.from(sealed, "base64url").toString("latin1")).not.toContain("tok_sealed");
    expect(new PayloadCipher(new SecretKeys([keyA])).open(sealed, "row-1")).toEqual(params);
    expect(new PayloadCipher(new SecretKeys([keyB, keyA])).open(sealed, "row-1")).toEqual(params);
    expect(() => new PayloadCipher(new SecretKeys([keyB])).open(sealed, "row-1")).toThrow(PayloadKeyMissingError);
  });

  it("does not open in another row, or once changed", () => {
    const cipher = new PayloadCipher(new SecretKeys([keyA]));
    const sealed = cipher.seal(params, "row-1");
    expect(() => cipher.open(sealed, "row-2")).toThrow();
    const bytes = Buffer.from(sealed, "base64url");
    bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 1;
    expect(() => cipher.open(bytes.toString("base64url"), "row-1")).toThrow();
    // Two seals of the same params differ (a fresh IV each).
    expect(cipher.seal(params, "row-1")).not.toBe(sealed);
  });
});

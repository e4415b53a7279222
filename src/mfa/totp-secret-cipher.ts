import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { SecretKeys } from "../auth/secret-keys";

const FORMAT_V1 = 1;
const KEY_ID_BYTES = 4;
/** NIST SP 800-38D §8.2.2: a random 96-bit IV per encryption. */
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * TOTP secrets at rest (BEHAVIOUR.md §8): AES-256-GCM under the "totp-secret"
 * key derived from SECRET_KEYS. Unlike a password, the server needs the
 * secret itself to check a code, so it cannot be hashed; encrypted, a
 * read-only copy of the database (a backup, a replica) yields no working
 * second factor. The user's id is the associated data: a sealed secret
 * copied into another user's row does not open.
 *
 * Layout, base64url: format (1) | key id (4) | IV (12) | tag (16) | ciphertext.
 * The key id names which of SECRET_KEYS sealed it, so after a rotation a
 * secret sealed under the old key still opens while that key is listed, and
 * is sealed again under the new one at its next use (`isCurrent`).
 */
export class TotpSecretCipher {
  constructor(private readonly keys: SecretKeys) {}

  seal(secret: Buffer, userId: string): string {
    const { id, key } = this.keys.current("totp-secret");
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(Buffer.from(userId, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(secret), cipher.final()]);
    return Buffer.concat([Buffer.of(FORMAT_V1), id, iv, cipher.getAuthTag(), ciphertext]).toString("base64url");
  }

  /**
   * The secret; null when the key that sealed it is no longer in SECRET_KEYS
   * (or the value was tampered with): the app then no longer works, and
   * support resets it (`npm run cli -- reset-mfa`).
   */
  open(sealed: string, userId: string): Buffer | null {
    const bytes = Buffer.from(sealed, "base64url");
    if (bytes[0] !== FORMAT_V1 || bytes.length <= 1 + KEY_ID_BYTES + IV_BYTES + TAG_BYTES) return null;
    const ivAt = 1 + KEY_ID_BYTES;
    const tagAt = ivAt + IV_BYTES;
    const key = this.keys.byId("totp-secret", bytes.subarray(1, ivAt));
    if (key === undefined) return null;
    try {
      const decipher = createDecipheriv("aes-256-gcm", key.key, bytes.subarray(ivAt, tagAt));
      decipher.setAAD(Buffer.from(userId, "utf8"));
      decipher.setAuthTag(bytes.subarray(tagAt, tagAt + TAG_BYTES));
      return Buffer.concat([decipher.update(bytes.subarray(tagAt + TAG_BYTES)), decipher.final()]);
    } catch {
      return null;
    }
  }

  /** Whether `sealed` was sealed under the current key (else it is re-sealed at its next use). */
  isCurrent(sealed: string): boolean {
    const keyId = Buffer.from(sealed, "base64url").subarray(1, 1 + KEY_ID_BYTES);
    return keyId.equals(this.keys.current("totp-secret").id);
  }
}

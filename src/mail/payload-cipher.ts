import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { SecretKeys } from "../auth/secret-keys";

/** The first byte of a sealed payload: the format, so another can follow without guessing. */
const FORMAT_V1 = 1;
const KEY_ID_BYTES = 4;
/** NIST SP 800-38D §8.2.2: a random 96-bit IV per message (far below 2^32 messages per key). */
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class PayloadKeyMissingError extends Error {
  override name = "PayloadKeyMissingError";
  readonly code = "MAIL_PAYLOAD_KEY_MISSING";
}

/**
 * Seals a mail's params for the outbox row: AES-256-GCM under the
 * "mail-outbox" key derived from SECRET_KEYS. The params hold live tokens
 * (sign-in, reset), so a read-only copy of the database (a backup, a replica,
 * a leaked dump) must not yield them. The row's id is the associated data:
 * a payload copied into another row (another recipient) does not open.
 *
 * Layout, base64url: format (1) | key id (4) | IV (12) | tag (16) | ciphertext.
 * The key id names which of SECRET_KEYS sealed it, so a message queued before
 * a rotation is still sent after it while the old key is listed.
 */
export class PayloadCipher {
  constructor(private readonly keys: SecretKeys) {}

  seal(params: Record<string, string>, rowId: string): string {
    const { id, key } = this.keys.current("mail-outbox");
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(Buffer.from(rowId, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(params), "utf8"), cipher.final()]);
    return Buffer.concat([Buffer.of(FORMAT_V1), id, iv, cipher.getAuthTag(), ciphertext]).toString("base64url");
  }

  /** The params, or PayloadKeyMissingError when the key that sealed them is no longer in SECRET_KEYS. */
  open(sealed: string, rowId: string): Record<string, string> {
    const bytes = Buffer.from(sealed, "base64url");
    if (bytes[0] !== FORMAT_V1 || bytes.length < 1 + KEY_ID_BYTES + IV_BYTES + TAG_BYTES) {
      throw new Error("the outbox payload has an unknown format");
    }
    const ivAt = 1 + KEY_ID_BYTES;
    const tagAt = ivAt + IV_BYTES;
    const keyId = bytes.subarray(1, ivAt);
    const iv = bytes.subarray(ivAt, tagAt);
    const tag = bytes.subarray(tagAt, tagAt + TAG_BYTES);
    const ciphertext = bytes.subarray(tagAt + TAG_BYTES);
    const key = this.keys.byId("mail-outbox", keyId);
    if (key === undefined) {
      throw new PayloadKeyMissingError("the key that sealed this message is no longer in SECRET_KEYS");
    }
    const decipher = createDecipheriv("aes-256-gcm", key.key, iv);
    decipher.setAAD(Buffer.from(rowId, "utf8"));
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
    return JSON.parse(plain) as Record<string, string>;
  }
}

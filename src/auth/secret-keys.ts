import { createHmac, hkdfSync } from "node:crypto";

/** RFC 7518 §3.2 / NIST SP 800-107: a key at least as long as the HMAC-SHA-256 output. */
export const MIN_SECRET_KEY_BYTES = 32;

/**
 * The purposes keys are derived for. Each gets its own key (HKDF, RFC 5869,
 * `info` = the purpose), so a key for one use can never be replayed as
 * another's: a refresh-token proof is not a valid pseudonym, and so on.
 */
export type KeyPurpose =
  | "refresh-token"
  | "email-pseudonym"
  | "email-code"
  | "mail-outbox"
  | "totp-secret"
  | "oauth-state";

/** One derived key and the short id that names it in what it protects. */
export interface PurposeKey {
  /** 4 bytes, derived from the key; tells which of SECRET_KEYS made a token without trying each. */
  id: Buffer;
  key: Buffer;
}

/**
 * `SECRET_KEYS`: the server's own secrets. The first protects new data; every
 * one is accepted, so an operator rotates by putting a new key first and
 * removing the old one once nothing made under it is needed (BEHAVIOUR.md §2).
 * Derived keys are computed once, at start.
 */
export class SecretKeys {
  private readonly derived = new Map<KeyPurpose, PurposeKey[]>();

  constructor(private readonly secrets: readonly Buffer[]) {
    if (secrets.length === 0) throw new Error("at least one secret key is needed");
    for (const secret of secrets) {
      if (secret.length < MIN_SECRET_KEY_BYTES)
        throw new Error(`each key must be at least ${MIN_SECRET_KEY_BYTES} bytes`);
    }
  }

  /**
   * Parses one key as written in SECRET_KEYS: hex (64+ digits) or base64url
   * (plain base64, as `openssl rand -base64` prints it, is read too). Throws
   * on anything else.
   */
  static parseKey(text: string): Buffer {
    const value = text.trim();
    if (/^(?:[0-9a-fA-F]{2})+$/.test(value) && value.length >= 2 * MIN_SECRET_KEY_BYTES)
      return Buffer.from(value, "hex");
    if (/^[A-Za-z0-9_+/-]+={0,2}$/.test(value)) {
      const bytes = Buffer.from(value, "base64");
      if (bytes.length >= MIN_SECRET_KEY_BYTES) return bytes;
      throw new Error(`a key must be at least ${MIN_SECRET_KEY_BYTES} bytes (got ${bytes.length})`);
    }
    throw new Error("a key must be hex or base64url");
  }

  /** The key that protects new data for `purpose`. */
  current(purpose: KeyPurpose): PurposeKey {
    return this.all(purpose)[0] as PurposeKey;
  }

  /** Every accepted key for `purpose`, the current one first. */
  all(purpose: KeyPurpose): readonly PurposeKey[] {
    let keys = this.derived.get(purpose);
    if (keys === undefined) {
      keys = this.secrets.map((secret) => {
        const key = Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), `auth-server ${purpose}`, 32));
        return { key, id: createHmac("sha256", key).update("key id").digest().subarray(0, 4) };
      });
      this.derived.set(purpose, keys);
    }
    return keys;
  }

  /** The accepted key whose id is `id`, if any. */
  byId(purpose: KeyPurpose, id: Buffer): PurposeKey | undefined {
    return this.all(purpose).find((k) => k.id.equals(id));
  }
}

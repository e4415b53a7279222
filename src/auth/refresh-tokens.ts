import { createHash, randomBytes } from "node:crypto";

/**
 * Refresh tokens are opaque random strings, not JWTs: they mean something only
 * to this server, and a database row is the single source of truth for whether
 * one still works. 32 bytes = 256 bits of randomness.
 */
const TOKEN_BYTES = 32;
/** base64url of 32 bytes, no padding. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function generateRefreshToken(): string {
  return randomBytes(TOKEN_BYTES).toString("base64url");
}

/**
 * Only this hash is stored (RFC 9700 §4.14.1), so a read of the database does
 * not hand out working tokens. A fast hash is enough for a 256-bit random
 * secret: there is nothing to brute-force.
 */
export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("base64url");
}

/** Cheap pre-check so garbage never reaches the database. */
export function looksLikeRefreshToken(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}

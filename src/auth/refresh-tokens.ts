import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { PurposeKey, SecretKeys } from "./secret-keys";

/**
 * Refresh tokens, format 2 (README "Refresh tokens"). Opaque to clients; to
 * the server a token names its session and its generation, and proves the
 * server issued it:
 *
 *   base64url( 0x02 | session id (16 bytes) | generation (uint32) | key id (4) | proof (32) )
 *   proof = HMAC-SHA-256(refresh key[key id], "rt2" | session id | generation | session secret)
 *
 * - The refresh key is derived from SECRET_KEYS and never stored: a read-only
 *   copy of the database cannot make a proof (BEHAVIOUR.md §6.7).
 * - The session secret is 32 random bytes in the session's row: the keys
 *   without the database cannot make one either.
 * - The proof is a function of (session, generation), so the grace path can
 *   hand every presenter byte-for-byte the same next token without storing it
 *   (§6.3), and the state per session is a counter, not a row per token (§6.1).
 */
const VERSION = 0x02;
const UUID_BYTES = 16;
const KEY_ID_BYTES = 4;
const PROOF_BYTES = 32;
const OFFSET = {
  sessionId: 1,
  generation: 1 + UUID_BYTES,
  keyId: 5 + UUID_BYTES,
  proof: 5 + UUID_BYTES + KEY_ID_BYTES,
};
const TOKEN_BYTES = OFFSET.proof + PROOF_BYTES;
const TOKEN_SHAPE = new RegExp(`^[A-Za-z0-9_-]{${Math.ceil((TOKEN_BYTES * 4) / 3)}}$`);
/** Version 1 tokens: 32 random bytes, known to the database by their SHA-256 (sessions carried over, §6.8). */
const V1_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
const DOMAIN = Buffer.from("rt2");

/** Generations are uint32: a session rotated every second would need 136 years to run out. */
export const MAX_GENERATION = 0xffff_ffff;

export type PresentedRefreshToken =
  | { format: 2; sessionId: string; generation: number; keyId: Buffer; proof: Buffer }
  | { format: 1; hash: string };

/** Reads a presented token's parts without trusting them; null for anything that is no refresh token. */
export function parseRefreshToken(token: string): PresentedRefreshToken | null {
  if (V1_TOKEN_SHAPE.test(token)) return { format: 1, hash: hashV1RefreshToken(token) };
  if (!TOKEN_SHAPE.test(token)) return null;
  const bytes = Buffer.from(token, "base64url");
  if (bytes.length !== TOKEN_BYTES || bytes[0] !== VERSION) return null;
  // Re-encoding must give the same text: no second spelling of one token.
  if (bytes.toString("base64url") !== token) return null;
  const id = bytes.subarray(OFFSET.sessionId, OFFSET.generation).toString("hex");
  const generation = bytes.readUInt32BE(OFFSET.generation);
  const keyId = bytes.subarray(OFFSET.keyId, OFFSET.proof);
  const proof = bytes.subarray(OFFSET.proof);
  const sessionId = `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
  return { format: 2, sessionId, generation, keyId, proof };
}

/** The SHA-256 a version 1 token was stored under. */
export function hashV1RefreshToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("base64url");
}

/** A new session's secret, as stored (hex). */
export function newSessionSecret(): string {
  return randomBytes(32).toString("hex");
}

/** Makes and checks format-2 tokens with the refresh keys derived from SECRET_KEYS. */
export class RefreshTokenProofs {
  constructor(private readonly keys: SecretKeys) {}

  /** The id of the key new tokens are made with. */
  get currentKeyId(): Buffer {
    return this.keys.current("refresh-token").id;
  }

  /**
   * The token of `generation` for a session. `keyId` picks the key (the grace
   * path re-makes a token with the key that first made it); the current key
   * otherwise. Null when that key is no longer configured.
   */
  mint(session: { id: string; secret: string }, generation: number): string;
  mint(session: { id: string; secret: string }, generation: number, keyId: Buffer | undefined): string | null;
  mint(session: { id: string; secret: string }, generation: number, keyId?: Buffer): string | null {
    const key = keyId === undefined ? this.keys.current("refresh-token") : this.keys.byId("refresh-token", keyId);
    if (key === undefined) return null;
    if (!Number.isInteger(generation) || generation < 0 || generation > MAX_GENERATION) {
      throw new RangeError("refresh generation out of range");
    }
    const id = Buffer.from(session.id.replaceAll("-", ""), "hex");
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(generation);
    const proof = computeProof(key, id, counter, session.secret);
    return Buffer.concat([Buffer.of(VERSION), id, counter, key.id, proof]).toString("base64url");
  }

  /** Whether a parsed format-2 token carries the proof this server would make for it (constant time). */
  isAuthentic(token: Extract<PresentedRefreshToken, { format: 2 }>, sessionSecret: string): boolean {
    const key = this.keys.byId("refresh-token", token.keyId);
    if (key === undefined) return false;
    const id = Buffer.from(token.sessionId.replaceAll("-", ""), "hex");
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(token.generation);
    return timingSafeEqual(computeProof(key, id, counter, sessionSecret), token.proof);
  }
}

function computeProof(key: PurposeKey, sessionId: Buffer, counter: Buffer, sessionSecret: string): Buffer {
  return createHmac("sha256", key.key)
    .update(DOMAIN)
    .update(sessionId)
    .update(counter)
    .update(Buffer.from(sessionSecret, "hex"))
    .digest();
}

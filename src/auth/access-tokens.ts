import { randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import type { Clock } from "../clock";
import type { UnauthenticatedReason } from "../errors";
import type { SigningKeys } from "./signing-keys";

/** RFC 9068 §2.1: access tokens are typed so no other JWT can pass for one. */
export const ACCESS_TOKEN_TYP = "at+jwt";
/** Clock skew tolerated on `exp`/`iat`/`nbf`, seconds (BEHAVIOUR.md). */
export const CLOCK_TOLERANCE_SECONDS = 5;

export interface AccessTokenClaims {
  /** The user id. Never the email (RFC 9068 §2.2: sub is a stable identifier). */
  sub: string;
  /** The session the token belongs to; checked on every request. */
  sid: string;
  roles: string[];
  /**
   * When the session last proved who the user is (seconds; OpenID Connect
   * Core §2), for "recent sign-in" checks (BEHAVIOUR.md §8). Absent from
   * tokens signed before it was added: those count as not recent.
   */
  auth_time?: number;
  /** How (RFC 8176 values: `pwd`, `email`, …). */
  amr?: string[];
  jti: string;
  iat: number;
  exp: number;
}

export interface AccessTokenOptions {
  keys: SigningKeys;
  issuer: string;
  audience: string;
  ttlSeconds: number;
  clock: Clock;
}

export type VerifiedAccessToken =
  | { ok: true; claims: AccessTokenClaims }
  | { ok: false; reason: Exclude<UnauthenticatedReason, "REVOKED"> };

/** Access tokens remembered as verified, at most (about 1 KB each); the oldest is forgotten first. */
export const VERIFIED_TOKENS_KEPT = 10_000;

type Verified = Extract<VerifiedAccessToken, { ok: true }>;

/**
 * Signs and verifies access tokens. Keys are KeyObjects made once at start:
 * jsonwebtoken given a string secret first tries it as a PEM public key,
 * which costs ~45× more per call.
 *
 * A client sends the same access token with every request for its whole
 * lifetime, so each token is verified once and remembered by its exact
 * text (as Envoy's jwt_authn cache does): verifying with jsonwebtoken was
 * about a quarter of a `me` request (bench/RESULTS.md). What a verification
 * decides depends only on the text, the keys and the issuer and audience,
 * all fixed for the life of the process, and on the time, which is checked
 * again on every use: a remembered token still expires at `exp`. Nothing of
 * the session is remembered; every request still checks it in the database.
 * Only tokens that passed every check are kept, so only tokens this server
 * signed take room, and the room is bounded.
 */
export class AccessTokens {
  private readonly verified = new Map<string, Verified>();

  constructor(private readonly options: AccessTokenOptions) {}

  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  sign(subject: {
    userId: string;
    sessionId: string;
    roles: string[];
    authTime: Date;
    amr: readonly string[];
  }): string {
    const { algorithm, signing } = this.options.keys;
    // `iat` from the server's clock; jsonwebtoken counts `exp` from it.
    const iat = Math.floor(this.options.clock.now().getTime() / 1000);
    const authTime = Math.floor(subject.authTime.getTime() / 1000);
    return jwt.sign(
      { sid: subject.sessionId, roles: subject.roles, auth_time: authTime, amr: subject.amr, iat },
      signing.key,
      {
        algorithm,
        header: { alg: algorithm, typ: ACCESS_TOKEN_TYP, ...(signing.kid ? { kid: signing.kid } : {}) },
        subject: subject.userId,
        issuer: this.options.issuer,
        audience: this.options.audience,
        expiresIn: this.options.ttlSeconds,
        jwtid: randomUUID(),
      },
    );
  }

  /**
   * Never throws. The algorithm is pinned (RFC 8725 §3.1), so `alg: none` in
   * any spelling, another HMAC size or another family (HS256 signed with an
   * RS/ES public key: algorithm confusion) is refused before the signature is
   * looked at. Asymmetric tokens must name a configured key by `kid`.
   */
  verify(token: string): VerifiedAccessToken {
    const now = Math.floor(this.options.clock.now().getTime() / 1000);
    const known = this.verified.get(token);
    if (known !== undefined) {
      // jsonwebtoken's own test: expired from exp + tolerance on.
      if (now < known.claims.exp + CLOCK_TOLERANCE_SECONDS) return known;
      this.verified.delete(token);
      return { ok: false, reason: "EXPIRED" };
    }
    const verified = this.verifyText(token, now);
    if (verified.ok) this.remember(token, verified);
    return verified;
  }

  /** How many verified tokens are remembered now (at most VERIFIED_TOKENS_KEPT). */
  get rememberedCount(): number {
    return this.verified.size;
  }

  private remember(token: string, verified: Verified): void {
    // A token that is not valid yet would need its `nbf` checked on each use: this server signs none.
    if ((verified.claims as { nbf?: unknown }).nbf !== undefined) return;
    if (this.verified.size >= VERIFIED_TOKENS_KEPT) {
      const oldest = this.verified.keys().next();
      if (!oldest.done) this.verified.delete(oldest.value);
    }
    // Shared by every request that presents the token: nobody may change it.
    Object.freeze(verified.claims.roles);
    if (verified.claims.amr) Object.freeze(verified.claims.amr);
    Object.freeze(verified.claims);
    this.verified.set(token, Object.freeze(verified));
  }

  private verifyText(token: string, now: number): VerifiedAccessToken {
    const { keys } = this.options;
    const key = keys.verificationKey(keys.algorithm === "HS256" ? undefined : peekKid(token));
    if (key === undefined) return invalid;
    let decoded: jwt.Jwt;
    try {
      decoded = jwt.verify(token, key, {
        algorithms: [keys.algorithm],
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        clockTimestamp: now,
        complete: true,
      });
    } catch (error) {
      return { ok: false, reason: error instanceof jwt.TokenExpiredError ? "EXPIRED" : "INVALID" };
    }
    const claims = decoded.payload;
    if (typeof decoded.header.typ !== "string" || !isAccessTokenTyp(decoded.header.typ)) return invalid;
    if (typeof claims !== "object" || !hasAccessTokenClaims(claims)) return invalid;
    return { ok: true, claims };
  }
}

const invalid = { ok: false, reason: "INVALID" } as const;

/** The `kid` of an unverified header, only to pick the key to verify with. */
function peekKid(token: string): unknown {
  try {
    const header: unknown = JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8"));
    return typeof header === "object" && header !== null ? (header as { kid?: unknown }).kid : undefined;
  } catch {
    return undefined;
  }
}

/** RFC 9068 §2.1 allows the media type's full form too; media types are case-insensitive. */
function isAccessTokenTyp(typ: string): boolean {
  const t = typ.toLowerCase();
  return t === ACCESS_TOKEN_TYP || t === `application/${ACCESS_TOKEN_TYP}`;
}

// jsonwebtoken checks `exp` only when present; a token without it would never expire.
function hasAccessTokenClaims(c: jwt.JwtPayload): c is AccessTokenClaims & jwt.JwtPayload {
  return (
    typeof c.sub === "string" &&
    c.sub !== "" &&
    typeof c.sid === "string" &&
    c.sid !== "" &&
    typeof c.jti === "string" &&
    typeof c.exp === "number" &&
    typeof c.iat === "number" &&
    Array.isArray(c.roles) &&
    c.roles.every((r: unknown) => typeof r === "string") &&
    (c.auth_time === undefined || typeof c.auth_time === "number") &&
    (c.amr === undefined || (Array.isArray(c.amr) && c.amr.every((m: unknown) => typeof m === "string")))
  );
}

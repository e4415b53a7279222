import { createSecretKey, type KeyObject, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import type { UnauthenticatedReason } from "../errors";

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
  jti: string;
  iat: number;
  exp: number;
}

export interface AccessTokenOptions {
  secret: Buffer;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export type VerifiedAccessToken =
  | { ok: true; claims: AccessTokenClaims }
  | { ok: false; reason: Exclude<UnauthenticatedReason, "REVOKED"> };

/**
 * Signs and verifies access tokens. The key is a KeyObject made once:
 * jsonwebtoken given a string first tries it as a PEM public key, which costs
 * ~45× more per call.
 */
export class AccessTokens {
  private readonly key: KeyObject;

  constructor(private readonly options: AccessTokenOptions) {
    this.key = createSecretKey(options.secret);
  }

  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  sign(subject: { userId: string; sessionId: string; roles: string[] }): string {
    return jwt.sign({ sid: subject.sessionId, roles: subject.roles }, this.key, {
      algorithm: "HS256",
      header: { alg: "HS256", typ: ACCESS_TOKEN_TYP },
      subject: subject.userId,
      issuer: this.options.issuer,
      audience: this.options.audience,
      expiresIn: this.options.ttlSeconds,
      jwtid: randomUUID(),
    });
  }

  /**
   * Never throws. The algorithm is pinned (RFC 8725 §3.1), so `alg: none` in
   * any spelling, HS384/HS512 or an asymmetric algorithm is refused before the
   * signature is looked at.
   */
  verify(token: string): VerifiedAccessToken {
    let decoded: jwt.Jwt;
    try {
      decoded = jwt.verify(token, this.key, {
        algorithms: ["HS256"],
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
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
    c.roles.every((r: unknown) => typeof r === "string")
  );
}

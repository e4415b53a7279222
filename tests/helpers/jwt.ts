import { createHmac } from "node:crypto";

const b64 = (value: unknown) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/**
 * Builds a compact JWS by hand (not with jsonwebtoken), so tests can make the
 * tokens an attacker would: alg none, other algorithms, missing claims.
 */
export function forge(header: Record<string, unknown>, claims: Record<string, unknown>, key: string | null): string {
  const input = `${b64(header)}.${b64(claims)}`;
  if (key === null) return `${input}.`;
  const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[String(header.alg)] ?? "sha256";
  return `${input}.${createHmac(hash, key).update(input).digest("base64url")}`;
}

export function decodePart(token: string, index: 0 | 1): Record<string, any> {
  return JSON.parse(Buffer.from(token.split(".")[index] ?? "", "base64url").toString("utf8"));
}

import type { FastifyReply, FastifyRequest } from "fastify";

export type TransportMode = "body" | "cookie" | "both";

/**
 * The refresh-token cookie. `__Host-` would need Path=/, but the token should
 * travel only to /graphql (contract), so the `__Secure-` prefix: browsers
 * refuse it unless it is Secure. HttpOnly keeps it from scripts (XSS) and
 * SameSite=Strict from other sites (CSRF, ASVS 3.3).
 */
export const REFRESH_COOKIE = "__Secure-refresh_token";
const COOKIE_OPTIONS = { httpOnly: true, secure: true, sameSite: "strict", path: "/graphql" } as const;

/** How this request receives and returns its refresh token. */
export interface RefreshTokenTransport {
  /** The presented token: the argument, or (cookie transport) the cookie when the argument is omitted. */
  presented(argument: string | null | undefined): string | undefined;
  /** Hands a new token to the client; returns what goes into AuthPayload.refreshToken. */
  deliver(token: string, expiresAt: Date): string | null;
  /** Removes the cookie (logout, or a cookie token that no longer works). */
  clear(): void;
}

export function refreshTokenTransport(
  mode: TransportMode,
  request: FastifyRequest,
  reply: FastifyReply,
): RefreshTokenTransport {
  const usesCookie = mode !== "body";
  return {
    presented: (argument) => argument || (usesCookie ? request.cookies[REFRESH_COOKIE] : undefined) || undefined,
    deliver(token, expiresAt) {
      if (usesCookie) reply.setCookie(REFRESH_COOKIE, token, { ...COOKIE_OPTIONS, expires: expiresAt });
      return mode === "cookie" ? null : token;
    },
    clear() {
      if (usesCookie) reply.clearCookie(REFRESH_COOKIE, COOKIE_OPTIONS);
    },
  };
}

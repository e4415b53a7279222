import cors from "@fastify/cors";
import helmet from "@fastify/helmet";
import type { FastifyInstance } from "fastify";

/**
 * HTTP hardening in one place:
 * - helmet: `X-Content-Type-Options: nosniff`, HSTS, framing and referrer rules.
 *   Outside production the CSP stays off, because the Sandbox page loads from
 *   Apollo's CDN. In production nothing here serves HTML, so `default-src 'none'`.
 * - CORS: only the origins listed in CORS_ORIGINS, never reflected blindly and
 *   never `*` (ASVS 3.4.2), with any request header. With no list, only
 *   Apollo's hosted Sandbox outside production (config.ts), none in production.
 */
export async function registerHttpSecurity(
  app: FastifyInstance,
  { production, corsOrigins }: { production: boolean; corsOrigins: string[] },
): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: production
      ? { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } }
      : false,
    crossOriginEmbedderPolicy: false,
    // One year (ASVS 3.4.1); only browsers on HTTPS honour it.
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  });
  const allowed = new Set(corsOrigins);
  const listed = {
    origin: true, // echo the origin: it is one of ours
    credentials: true,
    methods: ["GET", "POST", "OPTIONS"],
    // No `allowedHeaders`: the preflight's Access-Control-Request-Headers are
    // allowed as asked. Clients add headers of their own (Apollo Client's
    // `apollographql-client-name`, tracing, request ids), and an allowed origin
    // is trusted with credentials already; a fixed list only broke them.
    maxAge: 600,
  };
  // Decided per request, so an origin not on the list gets no CORS header at all
  // (not even Allow-Credentials).
  await app.register(cors, {
    delegator: (request, callback) => {
      const origin = request.headers.origin;
      callback(null, origin !== undefined && allowed.has(origin) ? listed : { origin: false });
    },
  });
}

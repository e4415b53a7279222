import type { IncomingMessage, ServerResponse } from "node:http";
import cors from "@fastify/cors";
import type { FastifyInstance } from "fastify";
import helmet, { type HelmetOptions } from "helmet";

/**
 * HTTP hardening in one place:
 * - helmet: `X-Content-Type-Options: nosniff`, HSTS, framing and referrer rules
 *   (computed once, `helmetHeaders`).
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
  const headers = helmetHeaders({
    contentSecurityPolicy: production
      ? { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } }
      : false,
    crossOriginEmbedderPolicy: false,
    // One year (ASVS 3.4.1); only browsers on HTTPS honour it.
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  });
  const entries = Object.entries(headers);
  // On the raw response, where helmet itself puts them (as @fastify/helmet did).
  app.addHook("onRequest", (_request, reply, done) => {
    for (const [name, value] of entries) reply.raw.setHeader(name, value);
    done();
  });
  const allowed = new Set(corsOrigins);
  // Options fixed at start, the origin decided per request: an origin not on
  // the list (or none) resolves to false, and @fastify/cors then adds no CORS
  // header at all, not even Allow-Credentials. (A `delegator` returning options
  // per request did the same but had them normalised again on every request.)
  await app.register(cors, {
    origin: (origin: string | undefined, callback: (error: Error | null, allow: boolean) => void) =>
      callback(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ["GET", "POST", "OPTIONS"],
    // No `allowedHeaders`: the preflight's Access-Control-Request-Headers are
    // allowed as asked. Clients add headers of their own (Apollo Client's
    // `apollographql-client-name`, tracing, request ids), and an allowed origin
    // is trusted with credentials already; a fixed list only broke them.
    maxAge: 600,
  });
}

/**
 * The headers helmet sets, computed once. With these options they are the
 * same for every response (no CSP nonces), yet helmet's middleware works
 * them out again per request: parsing the CSP directives and naming each
 * header cost about 7 % of a `me` request (bench/RESULTS.md). So helmet runs
 * once, at start, against a stand-in response, and each reply gets the result.
 */
export function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string) => {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  let finished = false;
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error;
    finished = true;
  });
  // helmet's middleware is synchronous for static options; anything else would be a surprise worth a crash at start.
  if (!finished) throw new Error("helmet did not finish synchronously");
  return headers;
}

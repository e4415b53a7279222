import type { FastifyInstance } from "fastify";
import type { SigningKeys } from "../auth/signing-keys";

/**
 * GET /.well-known/jwks.json: the public keys (with `kid`) that verify access
 * tokens, for other services acting as resource servers (RFC 7517). Only with
 * an asymmetric algorithm: an HS256 secret is never published.
 */
export function registerJwksRoute(app: FastifyInstance, keys: SigningKeys): void {
  if (keys.publicJwks.length === 0) return;
  const body = { keys: keys.publicJwks };
  app.get("/.well-known/jwks.json", async (_request, reply) =>
    // Short caching: verifiers pick up a newly added key within minutes.
    reply.header("cache-control", "public, max-age=300").send(body),
  );
}

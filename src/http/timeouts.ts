import type { Server } from "node:http";
import type { FastifyHttpOptions } from "fastify";

/** How long the HTTP server waits for clients, in milliseconds (BEHAVIOUR.md §10). */
export interface HttpTimeouts {
  /**
   * A request's headers and body must have arrived this long after the
   * connection (or the previous request) began; otherwise 408 and the
   * connection is closed. Stops slow-loris and slow POST clients from holding
   * sockets and memory. Time spent answering does not count.
   */
  requestMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { requestMs: 30_000, keepAliveMs: 5_000 };

/**
 * Fastify's options for these timeouts. Fastify turns Node's request timeout
 * off (0) and keeps idle connections 72 s. Node enforces the header and
 * request timeouts on a timer that runs every 30 s by default, so a stalled
 * request could live almost twice its timeout: the timer runs at least every
 * second here (iterating connections is cheap).
 */
export function httpTimeoutOptions(
  timeouts: HttpTimeouts,
): Pick<FastifyHttpOptions<Server>, "requestTimeout" | "keepAliveTimeout" | "http"> {
  return {
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: {
      headersTimeout: timeouts.requestMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(timeouts.requestMs / 4))),
    },
  };
}

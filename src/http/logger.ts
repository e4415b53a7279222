import type { FastifyLoggerOptions } from "fastify";
import type { LogLevel } from "../config";

/**
 * pino options: JSON lines. Request logs carry the path but not the query
 * string (a GET /graphql?query=… or ?variables=… can hold a password), and
 * never headers; the redaction list is a second line of defence for anything
 * that logs a request or reply object whole (OWASP Logging CS, data to exclude).
 */
export function loggerOptions(level: LogLevel): FastifyLoggerOptions & Record<string, unknown> {
  return {
    level,
    // ISO-8601 UTC, as audit records need a readable time (ASVS 16.2.2).
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        'res.headers["set-cookie"]',
        "*.password",
        "*.currentPassword",
        "*.newPassword",
        "*.refreshToken",
        "*.accessToken",
      ],
      censor: "[redacted]",
    },
    serializers: {
      req: (request: { method: string; url: string; ip?: string; id?: string }) => ({
        method: request.method,
        path: request.url.split("?")[0],
        ip: request.ip,
      }),
    },
  };
}

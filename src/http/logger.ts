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
    timestamp: () => `,"time":"${isoTime(Date.now())}"`,
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

let second = Number.NaN;
let secondPrefix = "";

/**
 * `new Date(ms).toISOString()`, with the part up to the second formatted once
 * per second: every log line asks for the time, and building the whole
 * string each time was a visible share of a `me` request (bench/RESULTS.md).
 */
export function isoTime(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s !== second) {
    // "2026-11-26T17:05:12." (20 characters) for years 0 to 9999, the only ones a log sees.
    secondPrefix = new Date(s * 1000).toISOString().slice(0, 20);
    second = s;
  }
  const millis = ms - s * 1000;
  return `${secondPrefix}${millis < 10 ? "00" : millis < 100 ? "0" : ""}${millis}Z`;
}

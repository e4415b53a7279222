import type { FastifyLoggerOptions } from "fastify";
import type { LogLevel } from "../config";

/**
 * pino options: JSON lines. Request logs carry the path but not the query
 * string (a GET /graphql?query=… or ?variables=… can hold a password), and
 * never headers. `censorSecrets` is a second line of defence for anything
 * that logs an object holding a secret by name (OWASP Logging CS, data to
 * exclude).
 */
export function loggerOptions(level: LogLevel): FastifyLoggerOptions & Record<string, unknown> {
  return {
    level,
    // ISO-8601 UTC, as audit records need a readable time (ASVS 16.2.2).
    timestamp: () => `,"time":"${isoTime(Date.now())}"`,
    formatters: {
      log: (object: Record<string, unknown>) => censorSecrets(object),
      bindings: (bindings: Record<string, unknown>) => censorSecrets(bindings),
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

/** Fields whose values never reach the log, wherever they are in what a line carries. */
const SECRET_FIELDS = new Set([
  "password",
  "currentPassword",
  "newPassword",
  "refreshToken",
  "accessToken",
  "authorization",
  "cookie",
  "set-cookie",
]);
const CENSOR = "[redacted]";
/** Deeper than this, nothing is looked at (a log line's objects are a few levels deep; a cycle must not hang it). */
const MAX_DEPTH = 6;

/**
 * `value` with every field named in SECRET_FIELDS replaced by "[redacted]",
 * in plain objects and arrays at any depth up to MAX_DEPTH and in an error's
 * own fields; `value` itself, uncopied, when it holds none. Objects of other
 * classes (a request, a reply) are left to their serializers, which list what
 * they write.
 *
 * pino's own `redact` did this by paths, and in pino 10 it parsed every path
 * and copied the object on every line and on every request's child logger:
 * about a tenth of the memory a `me` request allocated (bench/RESULTS.md).
 */
export function censorSecrets<T>(value: T, depth = 0): T {
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item: unknown, i) => {
      const censored = censorSecrets(item, depth + 1);
      if (censored === item) return;
      copy ??= [...value];
      copy[i] = censored;
    });
    return (copy ?? value) as T;
  }
  const prototype = Object.getPrototypeOf(value);
  const isError = value instanceof Error;
  if (prototype !== Object.prototype && prototype !== null && !isError) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, field] of Object.entries(value)) {
    const censored = SECRET_FIELDS.has(key) ? CENSOR : censorSecrets(field, depth + 1);
    if (censored === field) continue;
    // An error keeps what its serializer would have written of it.
    copy ??= isError
      ? { type: value.constructor.name, message: value.message, stack: value.stack, ...(value as object) }
      : { ...(value as object) };
    copy[key] = censored;
  }
  return (copy ?? value) as T;
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

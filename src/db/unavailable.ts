import { ConnectionException, LockWaitTimeoutException } from "@mikro-orm/core";

/**
 * Node's socket errors: the database host refused, reset, dropped or could
 * not be found. Retrying later can succeed; nothing about the request is wrong.
 */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * PostgreSQL SQLSTATEs meaning "not now" rather than "not this" (appendix A of
 * the PostgreSQL manual): class 08 connection exceptions, 57P01–57P03 (admin
 * or crash shutdown, still starting up) and 53300 (too many connections).
 */
const POSTGRES_UNAVAILABLE = /^(08[0-9A-Z]{3}|57P0[123]|53300)$/;

/**
 * SQLite: still locked by another writer after `busy_timeout`, or the file
 * cannot be opened (its disk gone, its folder removed).
 */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|CANTOPEN)(_[A-Z]+)?$/;

/**
 * Errors that carry no code, by their fixed text. knex's pool errors come bare;
 * pg's client errors come after the statement (`<sql> - <message>`), whose
 * bindings may be user data: anchored, so a stored string cannot pose as one.
 */
const POOL_MESSAGE = /^(Knex: Timeout acquiring a connection|Unable to acquire a connection$)/;
const CLIENT_MESSAGE =
  /(^|\s-\s)(Connection terminated( unexpectedly)?|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|timeout expired)$/;

/**
 * True when `error` says the database cannot be reached right now (refused,
 * dropped, shut down by an administrator, no connection free in time, SQLite
 * busy past its timeout), as opposed to a bug or a bad statement. The one
 * place that knows the drivers' ways of saying so: MikroORM's typed
 * exceptions where it has them, SQLSTATEs and socket codes where it does not
 * (its PostgreSQL converter maps none of these), knex's and pg's fixed
 * messages for the rest.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let depth = 0; depth < 5 && error instanceof Error; depth++) {
    if (error instanceof ConnectionException || error instanceof LockWaitTimeoutException) return true;
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string") {
      if (NETWORK_CODES.has(code) || POSTGRES_UNAVAILABLE.test(code) || SQLITE_UNAVAILABLE.test(code)) return true;
    }
    if (POOL_MESSAGE.test(error.message) || CLIENT_MESSAGE.test(error.message)) return true;
    // A connection to "localhost" tries each address: the refusal is inside.
    if (error instanceof AggregateError && error.errors.some(isDatabaseUnavailable)) return true;
    error = error.cause;
  }
  return false;
}

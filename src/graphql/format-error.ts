import { unwrapResolverError } from "@apollo/server/errors";
import type { ValidationError } from "class-validator";
import { GraphQLError, type GraphQLFormattedError } from "graphql";
import { ArgumentValidationError } from "type-graphql";
import { isDatabaseUnavailable } from "../db/unavailable";
import { AppError, serviceUnavailable } from "../errors";

export interface ErrorLogger {
  error(object: object, message: string): void;
  warn(object: object, message: string): void;
}

/**
 * What SERVICE_UNAVAILABLE tells clients to wait: long enough for a database
 * restart or failover to make progress, short enough that clients come back
 * soon after it is over (the pool reconnects on the next query).
 */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

/**
 * The one place where errors become what a client sees:
 * - our AppErrors keep their contract code and client-safe details;
 * - input validation becomes BAD_USER_INPUT with `field`, never the value;
 * - request errors (parse, validation, variables) keep their code, with any
 *   echoed input value cut out of the message;
 * - the database unreachable (refused, dropped, no connection in time) is
 *   SERVICE_UNAVAILABLE with `retryAfter`: a client can tell "retry later"
 *   from a bug (BEHAVIOUR.md §11);
 * - anything else is unexpected: logged, and masked as INTERNAL_SERVER_ERROR
 *   (no stack, no SQL, no driver message: ASVS 16.5.1).
 */
export function createFormatError(log: ErrorLogger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = appErrorIn(error) ?? unwrapResolverError(error);
    const where = { locations: formatted.locations, path: formatted.path };

    if (original instanceof AppError) {
      return { message: original.message, ...where, extensions: { code: original.code, ...original.details } };
    }
    if (original instanceof ArgumentValidationError) {
      const failure = firstFailure(original.extensions.validationErrors);
      return {
        message: failure?.message ?? "Invalid input",
        ...where,
        extensions: { code: "BAD_USER_INPUT", ...(failure ? { field: failure.field } : {}) },
      };
    }
    // Errors raised before execution carry no path: their code is Apollo's own.
    if (formatted.path === undefined && typeof formatted.extensions?.code === "string") {
      return requestError(formatted, formatted.extensions.code);
    }
    if (isDatabaseUnavailable(original)) {
      log.warn({ err: describe(original) }, "database unavailable while resolving a GraphQL operation");
      const unavailable = serviceUnavailable(DATABASE_RETRY_AFTER_SECONDS);
      return { message: unavailable.message, ...where, extensions: { code: unavailable.code, ...unavailable.details } };
    }
    log.error({ err: describe(original) }, "unexpected error while resolving a GraphQL operation");
    return { message: "Internal server error", ...where, extensions: { code: "INTERNAL_SERVER_ERROR" } };
  };
}

/**
 * The AppError inside a GraphQLError: a resolver's (with a path), or a
 * plugin's thrown before execution (operation-checks.ts, no path).
 */
function appErrorIn(error: unknown): AppError | null {
  return error instanceof GraphQLError && error.originalError instanceof AppError ? error.originalError : null;
}

function firstFailure(errors: ValidationError[]): { field: string; message: string } | null {
  for (const e of errors) {
    const message = Object.values(e.constraints ?? {})[0];
    if (message !== undefined) return { field: e.property, message };
    const nested = firstFailure(e.children ?? []);
    if (nested) return nested;
  }
  return null;
}

// graphql-js prints offending values into these messages; the value may be a password.
const VARIABLE_VALUE = /^Variable "\$(\w+)" got invalid value /;
const VARIABLE_PATH = / at "(\w+(?:\.\w+|\[\d+\])*)"; /g;
const REPRESENT_VALUE = /(cannot represent[^:]*): .*$/s;
const FOUND_VALUE = /(Expected value of type "[^"]+"), found .*$/s;

function requestError(formatted: GraphQLFormattedError, code: string): GraphQLFormattedError {
  let message = formatted.message;
  const extensions: Record<string, unknown> = { code };
  const variable = VARIABLE_VALUE.exec(message)?.[1];
  if (variable !== undefined) {
    // The path graphql-js appends after the value; keys are GraphQL names, so \w only.
    const path = [...message.matchAll(VARIABLE_PATH)].map((m) => m[1]).find((p) => p?.startsWith(variable)) ?? variable;
    message = `Variable "$${variable}" has an invalid value at "${path}"`;
    extensions.field = path
      .split(/[.[]/)
      .filter((s) => !/^\d+\]$/.test(s))
      .pop();
  } else {
    message = message.replace(REPRESENT_VALUE, "$1.").replace(FOUND_VALUE, "$1.");
  }
  return { message, locations: formatted.locations, extensions };
}

/** Enough to debug an unexpected error, without SQL literals (they may hold user data). */
function describe(error: unknown): { type: string; message: string; stack?: string } {
  if (!(error instanceof Error)) return { type: typeof error, message: "non-Error thrown" };
  const scrub = (s: string) => s.replace(/'(?:[^']|'')*'/g, "'?'");
  return { type: error.name, message: scrub(error.message), stack: error.stack && scrub(error.stack) };
}

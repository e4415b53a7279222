import type { ApolloServerPlugin } from "@apollo/server";
import { GraphQLError, getVariableValues } from "graphql";
import { badUserInput } from "../errors";
import { countListItems } from "./cost-limit";
import { fragmentsOf, type OperationInput } from "./executed-fields";
import { findMalformedString, type MalformedString } from "./input-hygiene";
import { LIMITS } from "./limits";

const PROBLEMS: Record<MalformedString["problem"], string> = {
  NUL: "contains a NUL character",
  UNPAIRED_SURROGATE: "contains an unpaired UTF-16 surrogate (not valid Unicode text)",
};

/** Refused before execution, like the depth and alias limits: 400, nothing ran. */
const tooCostly = (message: string) =>
  new GraphQLError(message, { extensions: { code: "GRAPHQL_VALIDATION_FAILED", http: { status: 400 } } });

/**
 * The checks that need the variables' values, so cannot be validation rules
 * (graphql-js validates the document alone, and Apollo caches a validated
 * document across requests with other variables). They run at
 * `didResolveOperation`, after validation and before any resolver:
 * - a malformed string is BAD_USER_INPUT with `field` (input-hygiene.ts);
 * - more than LIMITS.maxListItems list items is GRAPHQL_VALIDATION_FAILED,
 *   like the depth and alias limits (cost-limit.ts).
 * A refusal answers HTTP 400, as Apollo does for variables of the wrong type.
 */
export function operationChecks(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request }) {
          if (!operation) return; // no such operation: execution reports it
          const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {}, {
            maxErrors: 1,
          });
          // Variables of the wrong type: execution refuses them itself (BAD_USER_INPUT, 400), value not echoed.
          if (coerced.errors) return;
          const input: OperationInput = {
            schema,
            operation,
            fragments: fragmentsOf(document),
            variables: coerced.coerced,
          };

          const malformed = findMalformedString(input);
          if (malformed) {
            const error = badUserInput(malformed.field, `${malformed.field} ${PROBLEMS[malformed.problem]}`);
            throw new GraphQLError(error.message, { originalError: error, extensions: { http: { status: 400 } } });
          }
          const listItems = countListItems(input);
          if (listItems > LIMITS.maxListItems) {
            throw tooCostly(
              `The operation may return ${listItems} list items; at most ${LIMITS.maxListItems} are allowed (first × nesting × aliases)`,
            );
          }
        },
      };
    },
  };
}

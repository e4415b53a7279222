import type { ApolloServerPlugin } from "@apollo/server";
import { GraphQLError, getVariableValues } from "graphql";
import { badUserInput } from "../errors";
import { fragmentsOf, type OperationInput } from "./executed-fields";
import { findMalformedString, type MalformedString } from "./input-hygiene";

const PROBLEMS: Record<MalformedString["problem"], string> = {
  NUL: "contains a NUL character",
  UNPAIRED_SURROGATE: "contains an unpaired UTF-16 surrogate (not valid Unicode text)",
};

/**
 * The checks that need the variables' values, so cannot be validation rules
 * (graphql-js validates the document alone, and Apollo caches a validated
 * document across requests with other variables). They run at
 * `didResolveOperation`, after validation and before any resolver: a
 * malformed string is BAD_USER_INPUT with `field` (input-hygiene.ts), HTTP
 * 400 as Apollo answers variables of the wrong type; nothing has run.
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
        },
      };
    },
  };
}

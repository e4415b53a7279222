import {
  type DocumentNode,
  GraphQLError,
  type GraphQLSchema,
  getVariableValues,
  type OperationDefinitionNode,
} from "graphql";
import { badUserInput } from "../errors";
import { type OperationCost, operationCost } from "./cost-limit";
import { fragmentsOf, type OperationInput } from "./executed-fields";
import { findMalformedString, type MalformedString } from "./input-hygiene";
import { LargeOperationGate } from "./large-operations";
import { LIMITS } from "./limits";

const PROBLEMS: Record<MalformedString["problem"], string> = {
  NUL: "contains a NUL character",
  UNPAIRED_SURROGATE: "contains an unpaired UTF-16 surrogate (not valid Unicode text)",
};

/** Refused before execution, like the depth and alias limits: 400, nothing ran. */
const tooCostly = (message: string) =>
  new GraphQLError(message, { extensions: { code: "GRAPHQL_VALIDATION_FAILED", http: { status: 400 } } });

/** What the walks below find in an operation. */
interface Findings {
  malformed: MalformedString | null;
  cost: OperationCost;
}

/**
 * Findings of operations without variables, by their node. Apollo keeps one
 * parsed document per query text (its document store), so the operation
 * every client sends all day (`query Me { me { … } }`) is one node, and what
 * the walks find in it cannot change: they ran for every request, about 5 %
 * of `me` (bench/RESULTS.md). A WeakMap: a document Apollo forgets goes too.
 */
const constantFindings = new WeakMap<OperationDefinitionNode, Findings>();

/**
 * The checks that need the variables' values, so cannot be validation rules
 * (graphql-js validates the document alone, and Apollo caches a validated
 * document across requests with other variables). They run at
 * `didResolveOperation`, after validation and before any resolver
 * (`request-plugin.ts`):
 * - a malformed string is BAD_USER_INPUT with `field` (input-hygiene.ts);
 * - more than LIMITS.maxListItems list items, or LIMITS.maxResponseText
 *   characters of stored text, is GRAPHQL_VALIDATION_FAILED (cost-limit.ts);
 * - an operation above LIMITS.largeResponseText waits for one of
 *   LIMITS.largeOperationsAtOnce slots (large-operations.ts).
 * A refusal answers HTTP 400, as Apollo does for variables of the wrong type.
 */
export class OperationChecks {
  private readonly gate = new LargeOperationGate(LIMITS.largeOperationsAtOnce);

  /** Throws a refusal; resolves to the release of a large operation's slot when it took one. */
  async check({ schema, document, operation, request }: OperationToCheck): Promise<(() => void) | undefined> {
    if (!operation) return undefined; // no such operation: execution reports it
    const constant = (operation.variableDefinitions?.length ?? 0) === 0;
    let findings = constant ? constantFindings.get(operation) : undefined;
    if (findings === undefined) {
      const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {}, {
        maxErrors: 1,
      });
      // Variables of the wrong type: execution refuses them itself (BAD_USER_INPUT, 400), value not echoed.
      if (coerced.errors) return undefined;
      const input: OperationInput = {
        schema,
        operation,
        fragments: fragmentsOf(document),
        variables: coerced.coerced,
      };
      findings = { malformed: findMalformedString(input), cost: operationCost(input) };
      if (constant) constantFindings.set(operation, findings);
    }

    const { malformed, cost } = findings;
    if (malformed) {
      const error = badUserInput(malformed.field, `${malformed.field} ${PROBLEMS[malformed.problem]}`);
      throw new GraphQLError(error.message, { originalError: error, extensions: { http: { status: 400 } } });
    }
    if (cost.listItems > LIMITS.maxListItems) {
      throw tooCostly(
        `The operation may return ${cost.listItems} list items; at most ${LIMITS.maxListItems} are allowed (first × nesting × aliases)`,
      );
    }
    if (cost.storedText > LIMITS.maxResponseText) {
      throw tooCostly(
        `The operation may return ${cost.storedText} characters of notes, emails and other stored text; at most ${LIMITS.maxResponseText} are allowed (two full pages of the longest notes): ask for the rest in another request`,
      );
    }
    return cost.storedText > LIMITS.largeResponseText ? this.gate.enter() : undefined;
  }
}

/** What the checks read of a resolved operation (Apollo's request context at `didResolveOperation`). */
export interface OperationToCheck {
  schema: GraphQLSchema;
  document: DocumentNode;
  operation?: OperationDefinitionNode | undefined;
  request: { variables?: Record<string, unknown> };
}

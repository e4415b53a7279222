import type { BaseContext, GraphQLRequestContextWillSendResponse } from "@apollo/server";
import { type DocumentNode, Kind, type OperationDefinitionNode, type SelectionSetNode } from "graphql";

/**
 * HTTP 503 with `Retry-After` (RFC 9110 §15.6.4) when the database was
 * unreachable for every top-level field of the operation, so nothing of it
 * ran: load balancers, proxies and HTTP clients understand "retry later"
 * without reading the body. When any field ran (or a field failed for another
 * reason), the response stays 200 like any GraphQL result with errors: the
 * client must see what did happen (BEHAVIOUR.md §3).
 */
export function setUnavailableStatus({ response, document, operation }: AnsweredRequest): void {
  if (response.body.kind !== "single") return;
  const errors = response.body.singleResult.errors ?? [];
  if (errors.length === 0 || !errors.every((e) => e.extensions?.code === "SERVICE_UNAVAILABLE")) return;
  // An error without a path happened before any field ran.
  const failed = new Set(errors.map((e) => e.path?.[0]));
  const ranNothing =
    failed.has(undefined) ||
    (document !== undefined &&
      operation !== undefined &&
      responseKeys(operation, document).every((key) => failed.has(key)));
  if (!ranNothing) return;
  const retryAfter = Math.max(1, ...errors.map((e) => Number(e.extensions?.retryAfter) || 1));
  response.http.status = 503;
  response.http.headers.set("retry-after", String(retryAfter));
}

/** What the status is decided from: Apollo's request context at `willSendResponse`. */
export type AnsweredRequest = Pick<
  GraphQLRequestContextWillSendResponse<BaseContext>,
  "response" | "document" | "operation"
>;

/**
 * The top-level response keys of an operation, through fragments. `@skip` and
 * `@include` are not evaluated: a skipped field counts as one that ran, which
 * errs towards 200, never towards a 503 for an operation that did something.
 */
function responseKeys(operation: OperationDefinitionNode, document: DocumentNode): string[] {
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])),
  );
  const keys: string[] = [];
  const seen = new Set<string>();
  const visit = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) keys.push((selection.alias ?? selection.name).value);
      else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
      else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) visit(fragment.selectionSet);
      }
    }
  };
  visit(operation.selectionSet);
  return keys;
}

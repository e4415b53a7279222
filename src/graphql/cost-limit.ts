import {
  type FieldNode,
  type GraphQLField,
  type GraphQLObjectType,
  getArgumentValues,
  getNamedType,
  getNullableType,
  isCompositeType,
  isEnumType,
  isListType,
} from "graphql";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../db/pagination";
import { executedFields, type OperationInput, possibleObjectTypes, rootTypeOf, subSelections } from "./executed-fields";

/**
 * How many list items an operation can return at most, from the document and
 * the variables alone: the number checked against LIMITS.maxListItems. Each
 * list counts its largest possible length, multiplied by the lengths of the
 * lists it sits in:
 *
 * - a page (a field with a `first` argument: `notes`, `users`) counts `first`
 *   rows, its default when absent, at most MAX_PAGE_SIZE (a larger `first` is
 *   refused by the resolver before any row is read). It counts whatever is
 *   selected inside it, even only `totalCount`: its resolver loads the rows.
 *   The `edges` of that page are those same rows, not new items;
 * - a list of enum values (`roles`) counts the number of values of the enum;
 * - any other list counts as a full page, MAX_PAGE_SIZE: the resolvers of
 *   such lists return at most that many (`sessions`: the 100 most recent).
 *
 * So `notes(first: 100) { edges { node { owner { roles } } } }` is 100 + 100×2
 * = 300 items, and 20 aliases of `notes(first: 100)` are 2,000.
 *
 * Introspection (`__schema`, `__type`) is not counted: its size is the
 * schema's, and it is off in production. Variables count with their values
 * (this runs after variable coercion, see operation-checks.ts), so
 * `first: $n` costs `$n`; `@skip`/`@include` are applied as execution does.
 */
export function countListItems(input: OperationInput): number {
  const root = rootTypeOf(input);
  return root ? itemsIn(input, root, [input.operation.selectionSet], 1, false) : 0;
}

/**
 * `multiplier`: how many times this selection is resolved (the product of the
 * lists above it). `inPage`: the object is a page (a connection), whose
 * `edges` are its rows.
 */
function itemsIn(
  input: OperationInput,
  type: GraphQLObjectType,
  selectionSets: Parameters<typeof executedFields>[2],
  multiplier: number,
  inPage: boolean,
): number {
  let items = 0;
  for (const nodes of executedFields(input, type, selectionSets).values()) {
    const [node] = nodes;
    const field = node && type.getFields()[node.name.value];
    if (!node || !field) continue; // __typename and introspection
    const page = pageSize(input, field, node);
    // A page's `edges` are its rows: counted on the page already.
    const rowsOfPage = inPage && field.name === "edges";
    const list = !rowsOfPage && isListType(getNullableType(field.type));
    const resolved = multiplier * (page ?? (list ? listLength(field) : 1));
    if (page !== null || list) items += resolved;

    const named = getNamedType(field.type);
    if (!isCompositeType(named)) continue;
    // An interface or union: the costliest of its object types.
    const below = possibleObjectTypes(input, named).map((object) =>
      itemsIn(input, object, subSelections(nodes), resolved, page !== null),
    );
    items += Math.max(0, ...below);
  }
  return items;
}

/** `first` of a page field (null when the field is not a page). */
function pageSize(
  { variables }: OperationInput,
  field: GraphQLField<unknown, unknown>,
  node: FieldNode,
): number | null {
  if (!field.args.some((arg) => arg.name === "first")) return null;
  let first: unknown;
  try {
    first = getArgumentValues(field, node, variables).first;
  } catch {
    first = MAX_PAGE_SIZE; // an argument execution will refuse anyway: count the most
  }
  if (first === null || first === undefined) return DEFAULT_PAGE_SIZE; // as paginate() reads it
  return typeof first === "number" ? Math.min(Math.max(first, 0), MAX_PAGE_SIZE) : MAX_PAGE_SIZE;
}

function listLength(field: GraphQLField<unknown, unknown>): number {
  const item = getNamedType(field.type);
  return isEnumType(item) ? item.getValues().length : MAX_PAGE_SIZE;
}

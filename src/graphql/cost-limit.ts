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
import { MAX_EMAIL_LENGTH } from "../auth/emails";
import { MAX_USER_AGENT_LENGTH } from "../auth/sessions";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../db/pagination";
import { MAX_PASSKEY_NAME_LENGTH } from "../mfa/webauthn-rules";
import { MAX_BODY_LENGTH, MAX_TITLE_LENGTH } from "../notes/notes";
import { executedFields, type OperationInput, possibleObjectTypes, rootTypeOf, subSelections } from "./executed-fields";

/** The worst case of one operation's response, known before it runs. */
export interface OperationCost {
  /** List items it can return, through nesting and aliases: checked against LIMITS.maxListItems. */
  listItems: number;
  /** Characters of stored text it can return (titles, bodies, emails, user agents): LIMITS.maxResponseText. */
  storedText: number;
}

/**
 * Text that clients store and read back, at its longest (characters, i.e.
 * code points). What makes a response large: 1,000 notes of 10,000
 * characters are 10 MB, while every other field is an id, a date, a
 * number or a short token (≤ ~100 bytes), bounded by the list items.
 */
const STORED_TEXT: Readonly<Record<string, number>> = {
  "Note.title": MAX_TITLE_LENGTH,
  "Note.body": MAX_BODY_LENGTH,
  "User.email": MAX_EMAIL_LENGTH,
  "Session.userAgent": MAX_USER_AGENT_LENGTH,
  "Passkey.name": MAX_PASSKEY_NAME_LENGTH,
};

/**
 * The worst case of an operation, from the document and the variables alone.
 * Each list counts its largest possible length, multiplied by the lengths of
 * the lists it sits in:
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
 * = 300 items, and 20 aliases of `notes(first: 100)` are 2,000. Stored text
 * counts each STORED_TEXT field at its longest, times the lists around it:
 * `notes(first: 100) { edges { node { title body } } }` is 1,020,000.
 *
 * Introspection (`__schema`, `__type`) is not counted: its size is the
 * schema's, and it is off in production. Variables count with their values
 * (this runs after variable coercion, see operation-checks.ts), so
 * `first: $n` costs `$n`; `@skip`/`@include` are applied as execution does.
 */
export function operationCost(input: OperationInput): OperationCost {
  const cost = { listItems: 0, storedText: 0 };
  const root = rootTypeOf(input);
  if (root) addCost(input, cost, root, [input.operation.selectionSet], 1, false);
  return cost;
}

/**
 * `multiplier`: how many times this selection is resolved (the product of the
 * lists above it). `inPage`: the object is a page (a connection), whose
 * `edges` are its rows.
 */
function addCost(
  input: OperationInput,
  cost: OperationCost,
  type: GraphQLObjectType,
  selectionSets: Parameters<typeof executedFields>[2],
  multiplier: number,
  inPage: boolean,
): void {
  for (const nodes of executedFields(input, type, selectionSets).values()) {
    const [node] = nodes;
    const field = node && type.getFields()[node.name.value];
    if (!node || !field) continue; // __typename and introspection
    const page = pageSize(input, field, node);
    // A page's `edges` are its rows: counted on the page already.
    const rowsOfPage = inPage && field.name === "edges";
    const list = !rowsOfPage && isListType(getNullableType(field.type));
    const resolved = multiplier * (page ?? (list ? listLength(field) : 1));
    if (page !== null || list) cost.listItems += resolved;
    cost.storedText += resolved * (STORED_TEXT[`${type.name}.${field.name}`] ?? 0);

    const named = getNamedType(field.type);
    if (!isCompositeType(named)) continue;
    // An interface or union: the costliest of its object types.
    let worst = { listItems: 0, storedText: 0 };
    for (const object of possibleObjectTypes(input, named)) {
      const below = { listItems: 0, storedText: 0 };
      addCost(input, below, object, subSelections(nodes), resolved, page !== null);
      if (below.listItems + below.storedText > worst.listItems + worst.storedText) worst = below;
    }
    cost.listItems += worst.listItems;
    cost.storedText += worst.storedText;
  }
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

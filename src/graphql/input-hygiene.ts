import {
  type GraphQLInputType,
  type GraphQLObjectType,
  getArgumentValues,
  getNamedType,
  isCompositeType,
  isInputObjectType,
  isListType,
  isNonNullType,
} from "graphql";
import { executedFields, type OperationInput, possibleObjectTypes, rootTypeOf, subSelections } from "./executed-fields";

/** A string argument that is not text this server can store and compare faithfully. */
export interface MalformedString {
  /** The input field or argument that holds it, as `extensions.field` names it. */
  field: string;
  problem: "NUL" | "UNPAIRED_SURROGATE";
}

/**
 * Why strings are checked at all (BEHAVIOUR.md §4): JSON and GraphQL carry
 * UTF-16, and both let through what UTF-8 cannot hold faithfully.
 * - An unpaired surrogate (`"\uD800"`) becomes U+FFFD on the way to UTF-8:
 *   argon2's input, SQLite's and PostgreSQL's text. Two passwords differing
 *   only there would hash the same; a title would come back changed.
 * - NUL is refused by PostgreSQL text (a 500) and truncates C strings.
 * Refusing them is the only answer that neither fails nor rewrites.
 */
export function problemOf(text: string): MalformedString["problem"] | null {
  if (text.includes("\u0000")) return "NUL";
  return text.isWellFormed() ? null : "UNPAIRED_SURROGATE";
}

/**
 * The first malformed string among the argument values of every field the
 * operation will resolve: literals and variables alike, inside input objects
 * and lists, under the name of the input field (or argument) that holds it.
 * One walk for every resolver, present and future, instead of a check in each.
 */
export function findMalformedString(input: OperationInput): MalformedString | null {
  const root = rootTypeOf(input);
  return root ? inSelection(input, root, [input.operation.selectionSet]) : null;
}

function inSelection(
  input: OperationInput,
  type: GraphQLObjectType,
  selectionSets: Parameters<typeof executedFields>[2],
): MalformedString | null {
  for (const nodes of executedFields(input, type, selectionSets).values()) {
    const [node] = nodes;
    const field = node && type.getFields()[node.name.value];
    if (!node || !field) continue; // __typename and introspection: nothing stored or compared
    let values: Record<string, unknown>;
    try {
      values = getArgumentValues(field, node, input.variables);
    } catch {
      continue; // an argument execution refuses by itself (BAD_USER_INPUT)
    }
    for (const arg of field.args) {
      const found = inValue(values[arg.name], arg.type, arg.name);
      if (found) return found;
    }
    const named = getNamedType(field.type);
    if (!isCompositeType(named)) continue;
    for (const object of possibleObjectTypes(input, named)) {
      const found = inSelection(input, object, subSelections(nodes));
      if (found) return found;
    }
  }
  return null;
}

function inValue(value: unknown, type: GraphQLInputType, field: string): MalformedString | null {
  if (value === null || value === undefined) return null;
  if (isNonNullType(type)) return inValue(value, type.ofType, field);
  if (isListType(type)) {
    if (!Array.isArray(value)) return inValue(value, type.ofType, field);
    for (const item of value) {
      const found = inValue(item, type.ofType, field);
      if (found) return found;
    }
    return null;
  }
  if (isInputObjectType(type)) {
    const object = value as Record<string, unknown>;
    for (const inner of Object.values(type.getFields())) {
      const found = inValue(object[inner.name], inner.type, inner.name);
      if (found) return found;
    }
    return null;
  }
  // String, ID and custom scalars: whatever arrives as a JS string.
  if (typeof value !== "string") return null;
  const problem = problemOf(value);
  return problem ? { field, problem } : null;
}

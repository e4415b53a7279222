import { GraphQLScalarType } from "graphql";
import { GraphQLDateTimeISO } from "graphql-scalars";

/**
 * graphql-scalars' `DateTimeISO`, with its description mended (upstream joins
 * two sentences without a space) and a word for codegen users: the wire
 * format is a string.
 */
export const DateTimeISO = new GraphQLScalarType({
  ...GraphQLDateTimeISO.toConfig(),
  description:
    "A date-time string at UTC, such as 2007-12-03T10:15:30Z, in the RFC 3339 profile of ISO 8601. " +
    "Serialized as a string (map it to `string` in codegen) and parsed from one.",
});

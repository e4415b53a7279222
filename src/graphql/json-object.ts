import { GraphQLScalarType } from "graphql";
import { GraphQLJSONObject } from "graphql-scalars";

/**
 * graphql-scalars' `JSONObject`, described as the contract (mfa.graphql)
 * describes it, and without `@specifiedBy` (the contract has none, and
 * introspection would not print it: the committed schema and a running
 * server's must agree).
 */
export const JSONObject = new GraphQLScalarType({
  ...GraphQLJSONObject.toConfig(),
  specifiedByURL: undefined,
  description: "A JSON object: WebAuthn options and responses travel as such.",
});

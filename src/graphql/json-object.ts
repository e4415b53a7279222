import { GraphQLScalarType } from "graphql";
import { GraphQLJSONObject } from "graphql-scalars";

/**
 * graphql-scalars' `JSONObject` (any JSON object, refused when it is not an
 * object), described as the contract (mfa.graphql) does: WebAuthn's options
 * and the authenticator's answers travel in it as the browser APIs' JSON forms.
 */
export const JSONObject = new GraphQLScalarType({
  ...GraphQLJSONObject.toConfig(),
  description: "A JSON object: WebAuthn options and responses travel as such.",
  // Introspection does not carry it by default, so the served schema and schema/schema.graphql would differ.
  specifiedByURL: undefined,
});

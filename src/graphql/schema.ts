import type { GraphQLSchema } from "graphql";
import { buildSchema } from "type-graphql";
import { authChecker } from "./auth-checker";
import { AuthResolver } from "./resolvers/auth.resolver";
import { NoteResolver } from "./resolvers/note.resolver";
import { SessionResolver } from "./resolvers/session.resolver";
import { UserResolver } from "./resolvers/user.resolver";

/** Built once per process; the same schema is served and emitted to schema/schema.graphql. */
export function buildGraphQLSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [AuthResolver, UserResolver, SessionResolver, NoteResolver],
    authChecker,
    // type-graphql 2 leaves validation off by default. `target` and `value`
    // would put the raw input (a password) into the error (type-graphql#1443).
    validate: { forbidUnknownValues: false, validationError: { target: false, value: false } },
  });
}

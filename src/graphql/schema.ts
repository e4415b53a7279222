import type { GraphQLSchema } from "graphql";
import { lexicographicSortSchema } from "graphql/utilities";
import { buildSchema } from "type-graphql";
import { authChecker } from "./auth-checker";
import { DateTimeISO } from "./date-time";
import { AuthResolver } from "./resolvers/auth.resolver";
import { EmailResolver } from "./resolvers/email.resolver";
import { MfaResolver } from "./resolvers/mfa.resolver";
import { NoteResolver } from "./resolvers/note.resolver";
import { OAuthResolver } from "./resolvers/oauth.resolver";
import { PasskeyResolver } from "./resolvers/passkey.resolver";
import { SessionResolver } from "./resolvers/session.resolver";
import { UserResolver } from "./resolvers/user.resolver";

/**
 * Built once per process; the same schema is served and emitted to
 * schema/schema.graphql. Sorted, so that what introspection of a running
 * server prints and the committed file agree line for line.
 */
export async function buildGraphQLSchema(): Promise<GraphQLSchema> {
  const schema = await buildSchema({
    resolvers: [
      AuthResolver,
      UserResolver,
      SessionResolver,
      NoteResolver,
      EmailResolver,
      MfaResolver,
      PasskeyResolver,
      OAuthResolver,
    ],
    authChecker,
    scalarsMap: [{ type: Date, scalar: DateTimeISO }],
    // type-graphql 2 leaves validation off by default. `target` and `value`
    // would put the raw input (a password) into the error (type-graphql#1443).
    validate: { forbidUnknownValues: false, validationError: { target: false, value: false } },
  });
  return lexicographicSortSchema(schema);
}

import { ApolloServer, type ApolloServerPlugin } from "@apollo/server";
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from "@apollo/server/plugin/disabled";
import { ApolloServerPluginLandingPageLocalDefault } from "@apollo/server/plugin/landingPage/default";
import { fastifyApolloDrainPlugin } from "@as-integrations/fastify";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config";
import type { GraphQLContext } from "./context";
import { createFormatError } from "./format-error";
import { LIMITS, validationRules } from "./limits";
import { buildGraphQLSchema } from "./schema";

/** Apollo Server for the schema, with the limits, error masking and production rules; started. */
export async function startApollo(
  app: FastifyInstance,
  config: Config,
  plugins: ApolloServerPlugin<GraphQLContext>[] = [],
): Promise<ApolloServer<GraphQLContext>> {
  const apollo = new ApolloServer<GraphQLContext>({
    schema: await buildGraphQLSchema(),
    validationRules,
    parseOptions: { maxTokens: LIMITS.maxTokens },
    introspection: config.introspection,
    includeStacktraceInErrorResponses: false,
    // No "Did you mean …?" hints that map the schema for an attacker.
    hideSchemaDetailsFromClientErrors: config.production,
    formatError: createFormatError(app.log),
    logger: app.log,
    plugins: [
      fastifyApolloDrainPlugin(app),
      // Responses carry tokens and per-user data: never cacheable (the route sets no-store).
      ApolloServerPluginCacheControlDisabled(),
      // Sandbox for developers; in production no page at all (GraphQL CS: no GraphiQL/Explorer).
      config.production
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({ embed: true }),
      ...plugins,
    ],
  });
  await apollo.start();
  return apollo;
}

import { ApolloServer } from "@apollo/server";
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from "@apollo/server/plugin/disabled";
import { ApolloServerPluginLandingPageLocalDefault } from "@apollo/server/plugin/landingPage/default";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config";
import type { GraphQLContext } from "./context";
import { createFormatError } from "./format-error";
import { LIMITS, validationRules } from "./limits";
import { type OperationObserver, requestPlugin } from "./request-plugin";
import { buildGraphQLSchema } from "./schema";

/** Apollo Server for the schema, with the limits, error masking and production rules; started. */
export async function startApollo(
  app: FastifyInstance,
  config: Config,
  observeOperation?: OperationObserver,
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
    // main.ts owns SIGTERM/SIGINT (SHUTDOWN_TIMEOUT, a second signal) and closes
    // Fastify, which drains requests; Apollo's own handlers would close it a
    // second time, force connections shut after a fixed 10 s and re-raise the
    // signal. Without them nothing calls stop(), so no drain plugin either.
    stopOnTerminationSignals: false,
    plugins: [
      // Input hygiene and the cost limit (they need the variables' values), the
      // 503 when the database is down for the whole operation, the metrics' timing.
      requestPlugin(observeOperation),
      // Responses carry tokens and per-user data: never cacheable (the route sets no-store).
      ApolloServerPluginCacheControlDisabled(),
      // Sandbox for developers; in production no page at all (GraphQL CS: no GraphiQL/Explorer).
      config.production
        ? ApolloServerPluginLandingPageDisabled()
        : // With the cookie transport, Sandbox sends cookies, so refreshToken works from it.
          ApolloServerPluginLandingPageLocalDefault({
            embed: true,
            includeCookies: config.refreshTokenTransport !== "body",
          }),
    ],
  });
  await apollo.start();
  return apollo;
}

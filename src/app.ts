import "reflect-metadata";
import { ApolloServer } from "@apollo/server";
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from "@apollo/server/plugin/disabled";
import { ApolloServerPluginLandingPageLocalDefault } from "@apollo/server/plugin/landingPage/default";
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from "@as-integrations/fastify";
import cookie from "@fastify/cookie";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import type { Config } from "./config";
import { type Orm, openDatabase } from "./db/orm";
import { createContext, type GraphQLContext } from "./graphql/context";
import { createFormatError } from "./graphql/format-error";
import { LIMITS, validationRules } from "./graphql/limits";
import { buildGraphQLSchema } from "./graphql/schema";
import { closeConnectionsWhenStopping } from "./http/graceful-close";
import { registerHealthRoutes } from "./http/health";
import { registerJwksRoute } from "./http/jwks";
import { loggerOptions } from "./http/logger";
import { registerHttpSecurity } from "./http/security";
import { createServices } from "./services";

declare module "fastify" {
  interface FastifyInstance {
    /** The database of this server (readiness, operator tasks, grey-box tests). */
    orm: Orm;
  }
}

export interface BuildOptions {
  /** Where the JSON log goes; stdout by default. */
  logStream?: { write(line: string): void };
  /** Sees every SQL statement (tests count queries with it). */
  onQuery?: (sql: string) => void;
}

/** Request bodies above this get 413 before any parsing (BEHAVIOUR.md "Errors"). */
const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Builds the whole server (HTTP, GraphQL, database) for a config. `main.ts`
 * listens with it; the tests start it on an ephemeral port the same way.
 * Closing the returned instance drains requests, then closes the database.
 */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { ...loggerOptions(config.logLevel), ...(options.logStream ? { stream: options.logStream } : {}) },
    // A hop count n trusts the n nearest proxies (hop 0 is the socket's peer).
    trustProxy:
      typeof config.trustProxy === "number"
        ? (_address, hop) => hop < (config.trustProxy as number)
        : config.trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
  });

  closeConnectionsWhenStopping(app);
  await registerHttpSecurity(app, config);
  await app.register(cookie);

  const orm = await openDatabase(config.database, {
    log: (message) => app.log.info(message),
    onQuery: options.onQuery,
  });
  app.decorate("orm", orm);
  app.addHook("onClose", () => orm.close());

  const services = await createServices(config, (event) => {
    const warn = event.event === "refresh_token_reused" || event.event === "login_throttled";
    app.log[warn ? "warn" : "info"](event, `auth event: ${event.event}`);
  });
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
      // Responses carry tokens and per-user data: never cacheable (set below).
      ApolloServerPluginCacheControlDisabled(),
      // Sandbox for developers; in production no page at all (GraphQL CS: no GraphiQL/Explorer).
      config.production
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({ embed: true }),
    ],
  });
  await apollo.start();

  app.route({
    url: "/graphql",
    method: ["GET", "POST", "OPTIONS"],
    exposeHeadRoute: false,
    preValidation: async (request, reply) => {
      if (documentLength(request) > LIMITS.maxDocumentLength) {
        return reply.code(400).send({
          errors: [
            {
              message: `The GraphQL document is longer than ${LIMITS.maxDocumentLength} characters`,
              extensions: { code: "BAD_REQUEST" },
            },
          ],
        });
      }
    },
    // RFC 6749 §5.1: responses with tokens must not be stored by any cache.
    onSend: async (_request, reply, payload) => {
      reply.header("cache-control", "no-store").header("pragma", "no-cache");
      return payload;
    },
    handler: fastifyApolloHandler(apollo, {
      context: async (request, reply) =>
        createContext(request, reply, orm.em.fork(), services, config.refreshTokenTransport),
    }),
  });
  // Only GET, POST and OPTIONS mean anything here (no TRACE, no PUT, …).
  app.route({
    url: "/graphql",
    method: ["PUT", "PATCH", "DELETE", "HEAD", "TRACE"],
    handler: async (_request, reply) => reply.code(405).header("allow", "GET, POST, OPTIONS").send(),
  });
  registerHealthRoutes(app, orm);
  registerJwksRoute(app, config.jwt.keys);
  return app;
}

/** The `query` of a POST body or of a GET query string, as sent. */
function documentLength(request: FastifyRequest): number {
  const source = request.method === "GET" ? request.query : request.body;
  const query = source && typeof source === "object" ? (source as { query?: unknown }).query : undefined;
  return typeof query === "string" ? query.length : 0;
}

import type { ApolloServer } from "@apollo/server";
import { type ApolloFastifyContextFunction, fastifyApolloHandler } from "@as-integrations/fastify";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { GraphQLContext } from "../graphql/context";
import { LIMITS } from "../graphql/limits";

/**
 * /graphql: GET and POST to Apollo (CSRF prevention and no batching are
 * Apollo's defaults), documents over the length limit refused before parsing,
 * every response `no-store`, and 405 for any other method.
 */
export function registerGraphQLRoute(
  app: FastifyInstance,
  apollo: ApolloServer<GraphQLContext>,
  context: ApolloFastifyContextFunction<GraphQLContext>,
): void {
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
    handler: fastifyApolloHandler(apollo, { context }),
  });
  // Only GET, POST and OPTIONS mean anything here (no TRACE, no PUT, …).
  app.route({
    url: "/graphql",
    method: ["PUT", "PATCH", "DELETE", "HEAD", "TRACE"],
    handler: async (_request, reply) => reply.code(405).header("allow", "GET, POST, OPTIONS").send(),
  });
}

/** The `query` of a POST body or of a GET query string, as sent. */
function documentLength(request: FastifyRequest): number {
  const source = request.method === "GET" ? request.query : request.body;
  const query = source && typeof source === "object" ? (source as { query?: unknown }).query : undefined;
  return typeof query === "string" ? query.length : 0;
}

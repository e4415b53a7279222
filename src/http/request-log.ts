import type { FastifyInstance } from "fastify";

/**
 * One log line per request, when its response is sent, in place of Fastify's
 * two ("incoming request" and "request completed"). Every line goes through
 * pino's redaction and serialisers, and on `me` the pair cost about a tenth
 * of the request (bench/RESULTS.md); the completed line carries all the
 * first one did (method, path, address, request id) plus the status and the
 * time taken. The arrival line is still there at `debug`, for following a
 * request that never finishes.
 */
export function registerRequestLog(app: FastifyInstance): void {
  app.addHook("onRequest", (request, _reply, done) => {
    // pino makes a disabled level's method a no-op: nothing is serialised at `info`.
    request.log.debug({ req: request }, "incoming request");
    done();
  });
  app.addHook("onResponse", (request, reply, done) => {
    request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, "request completed");
    done();
  });
}

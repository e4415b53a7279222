import { LogController } from "fastify";

/**
 * One log line per request, when its response is sent, in place of Fastify's
 * two ("incoming request" and "request completed"). Every line goes through
 * the serialisers and `censorSecrets` (`logger.ts`), and on `me` the pair
 * cost about a tenth of the request (bench/RESULTS.md); the completed line
 * carries all the arrival line did (method, path, address, request id) plus
 * the status and the time taken. The arrival line is still written at `debug`, for following
 * a request that never finishes. Fastify's other lines (errors of its default
 * handler, unknown routes, stream errors) are left as they are.
 */
export class OneLinePerRequest extends LogController {
  override incomingRequest(request: Parameters<LogController["incomingRequest"]>[0]): void {
    // pino makes a disabled level's method a no-op: nothing is serialised at `info`.
    request.log.debug({ req: request }, "incoming request");
  }

  override requestCompleted(...[error, request, reply]: Parameters<LogController["requestCompleted"]>): void {
    const line = { req: request, res: reply, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...line, err: error }, "request errored");
    else reply.log.info(line, "request completed");
  }
}

import { type FastifyBaseLogger, LogController } from "fastify";

/** The levels at which an `info` line is written. */
const WRITES_INFO = new Set(["trace", "debug", "info"]);

/**
 * One log line per request, when its response is sent, in place of Fastify's
 * two ("incoming request" and "request completed"). On `me` the pair cost
 * about a tenth of the request (bench/RESULTS.md); the completed line carries
 * all the arrival line did (method, path, address, request id) plus the
 * status and the time taken. The arrival line is still written at `debug`,
 * for following a request that never finishes. Fastify's other lines (errors
 * of its default handler, unknown routes, stream errors) are left as they are.
 *
 * The completed line skips pino's redaction, which was most of its cost: its
 * fields are allow-listed by the serialisers in `logger.ts` (method, the path
 * without its query, the address, the status), never a header or a body, so
 * there is nothing for redaction to find. A line with an error keeps it.
 */
export class OneLinePerRequest extends LogController {
  private unredacted: FastifyBaseLogger | undefined;

  override incomingRequest(request: Parameters<LogController["incomingRequest"]>[0]): void {
    // pino makes a disabled level's method a no-op: nothing is serialised at `info`.
    request.log.debug({ req: request }, "incoming request");
  }

  override requestCompleted(...[error, request, reply]: Parameters<LogController["requestCompleted"]>): void {
    if (error) {
      reply.log.error({ req: request, res: reply, responseTime: reply.elapsedTime, err: error }, "request errored");
      return;
    }
    // A route given a log level of its own keeps it.
    if (!WRITES_INFO.has(reply.log.level)) return;
    // The server's logger with its serialisers and destination; made once.
    this.unredacted ??= request.server.log.child({}, { redact: [] });
    // reqId is a binding of request.log; as the line's first field it lands where the binding would.
    this.unredacted.info(
      { reqId: request.id, req: request, res: reply, responseTime: reply.elapsedTime },
      "request completed",
    );
  }
}

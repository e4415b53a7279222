import type { FastifyInstance } from "fastify";

/**
 * While the server stops, responses to in-flight requests carry
 * `Connection: close`, so keep-alive clients let go of their socket and the
 * stop does not wait for their idle timeout. Idle sockets are closed by
 * Fastify itself (forceCloseConnections: "idle").
 */
export function closeConnectionsWhenStopping(app: FastifyInstance): void {
  let stopping = false;
  app.addHook("preClose", async () => {
    stopping = true;
  });
  app.addHook("onSend", async (_request, reply, payload) => {
    if (stopping) reply.header("connection", "close");
    return payload;
  });
}

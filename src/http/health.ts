import type { FastifyInstance } from "fastify";
import { databaseAnswers, type Orm } from "../db/orm";

/** Liveness for the process, readiness for the database (what a load balancer should route on). */
export function registerHealthRoutes(app: FastifyInstance, orm: Orm): void {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const ready = await databaseAnswers(orm);
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ok" : "database unavailable" });
  });
}

import "reflect-metadata";
import { parentPort, workerData } from "node:worker_threads";
import { systemClock } from "../clock";
import { openDatabase } from "../db/orm";
import { createMaintenance, type MaintenanceConfig, type MaintenanceReport } from "./maintenance";

/** What the server sends: run once with its clock's time, or stop (after the batch in progress). */
export type WorkerRequest = { type: "run"; now: number } | { type: "stop" };
/** What the worker answers. */
export type WorkerReply =
  | { type: "ready" }
  | { type: "done"; report: MaintenanceReport }
  | { type: "failed"; message: string }
  | { type: "stopped" };

/**
 * Maintenance of an SQLite database in a worker thread, on a connection of
 * its own. better-sqlite3 is synchronous: run in the server's thread, every
 * batch and every write-ahead-log checkpoint (a file sync) would stop all
 * requests while it runs. Here, readers never wait (WAL), and a request that
 * writes waits at most for the batch in progress, whose size is kept to a
 * few milliseconds; checkpoints hold no lock a request needs.
 */
async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error("sqlite-worker.ts runs as a worker thread");
  const config = workerData as MaintenanceConfig;
  const orm = await openDatabase(config.database, { migrate: false });
  const maintenance = createMaintenance(config, systemClock);
  const stopping = new AbortController();
  let running: Promise<void> = Promise.resolve();

  const reply = (message: WorkerReply) => port.postMessage(message);
  port.on("message", (request: WorkerRequest) => {
    if (request.type === "run") {
      running = maintenance.run(orm.em.fork(), { now: new Date(request.now), signal: stopping.signal }).then(
        (report) => reply({ type: "done", report }),
        (error: unknown) => reply({ type: "failed", message: error instanceof Error ? error.message : String(error) }),
      );
    } else {
      stopping.abort();
      void running
        .then(() => orm.close())
        .finally(() => {
          reply({ type: "stopped" });
          port.close();
        });
    }
  });
  reply({ type: "ready" });
}

main().catch((error: unknown) => {
  parentPort?.postMessage({ type: "failed", message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});

import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { FastifyInstance } from "fastify";
import type { Clock } from "../clock";
import type { Config } from "../config";
import type { Orm } from "../db/orm";
import { deletedRows, type Maintenance, type MaintenanceConfig, type MaintenanceReport } from "./maintenance";
import type { WorkerReply, WorkerRequest } from "./sqlite-worker";

/** An old SQLite file up to this size is converted to incremental vacuum at start (one VACUUM, ~1 s). */
const CONVERT_AT_START_MAX_BYTES = 128 * 1024 * 1024;

/** Runs maintenance somewhere: in this thread (PostgreSQL) or in a worker thread (SQLite). */
interface Runner {
  run(now: Date): Promise<MaintenanceReport>;
  /** Ends the run in progress after its current batch, and lets go of everything. */
  stop(): Promise<void>;
}

/**
 * The server's side of maintenance (BEHAVIOUR.md §11): at start, makes sure
 * an SQLite file can give freed pages back; then runs maintenance every
 * `intervalMs` (MAINTENANCE_INTERVAL by default; 0: never) until the server
 * stops, which waits for the batch in progress.
 *
 * Runs are spread ±25 % around the interval so instances started together
 * drift apart, and never overlap: the next is timed from the end of the last.
 * A failed run (the database unreachable) is logged; the next one retries.
 */
export async function startMaintenance(
  app: FastifyInstance,
  orm: Orm,
  config: Config,
  services: { maintenance: Maintenance; clock: Clock },
  intervalMs = config.maintenanceInterval * 1000,
): Promise<void> {
  const mode = await services.maintenance.prepareFile(orm.em.fork(), CONVERT_AT_START_MAX_BYTES);
  if (mode === "converted") app.log.info("maintenance: the SQLite file now gives freed pages back (one-time VACUUM)");
  if (mode === "too-large") {
    app.log.warn(
      "maintenance: this SQLite file was created without incremental vacuum and is too large to convert at start; " +
        "deleted rows' pages are reused but the file does not shrink until `npm run cli -- vacuum` (server stopped)",
    );
  }
  if (intervalMs <= 0) return;

  const runner =
    config.database.kind === "sqlite" ? workerRunner(maintenanceConfigOf(config)) : inThisThread(orm, services);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const runOnce = async () => {
    try {
      const report = await runner.run(services.clock.now());
      if (deletedRows(report) > 0 || report.reclaimedPages > 0)
        app.log.info({ maintenance: report }, "maintenance run");
    } catch (error) {
      app.log.warn({ err: error }, "maintenance run failed; retrying at the next interval");
    }
  };
  const next = () => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        running = runOnce().then(next);
      },
      intervalMs * (0.75 + Math.random() / 2),
    );
    // Maintenance alone never keeps the process alive.
    timer.unref();
  };
  next();

  app.addHook("preClose", async () => {
    stopped = true;
    clearTimeout(timer);
    await runner.stop();
    await running;
  });
}

/** PostgreSQL's driver is asynchronous: batches wait on the network, and requests run meanwhile. */
function inThisThread(orm: Orm, services: { maintenance: Maintenance }): Runner {
  const stopping = new AbortController();
  return {
    run: (now) => services.maintenance.run(orm.em.fork(), { now, signal: stopping.signal }),
    stop: async () => stopping.abort(),
  };
}

/**
 * SQLite: see sqlite-worker.ts for why a thread of its own. The thread starts
 * with the first run (so a start never waits for it) and is started again
 * after it failed.
 */
function workerRunner(config: MaintenanceConfig): Runner {
  let current: MaintenanceThread | null = null;
  return {
    async run(now) {
      current ??= new MaintenanceThread(config);
      try {
        return await current.run(now);
      } catch (error) {
        if (current.broken) current = null;
        throw error;
      }
    },
    async stop() {
      await current?.stop();
    },
  };
}

/** One worker thread and its replies, in the order of the requests. */
class MaintenanceThread {
  broken = false;
  private readonly worker: Worker;
  private readonly replies: Array<(reply: WorkerReply) => void> = [];
  private readonly ready: Promise<WorkerReply>;

  constructor(config: MaintenanceConfig) {
    // Under tsx or vitest this module is TypeScript, and so is the worker: load it the same way.
    const typescript = __filename.endsWith(".ts");
    this.worker = new Worker(join(__dirname, `sqlite-worker${typescript ? ".ts" : ".js"}`), {
      workerData: config,
      execArgv: typescript ? ["--require", require.resolve("tsx/cjs")] : [],
    });
    // Maintenance alone never keeps the process alive.
    this.worker.unref();
    this.worker.on("message", (reply: WorkerReply) => this.replies.shift()?.(reply));
    const fail = (message: string) => {
      this.broken = true;
      for (const waiting of this.replies.splice(0)) waiting({ type: "failed", message });
    };
    this.worker.on("error", (error) => fail(error.message));
    this.worker.on("exit", (code) => fail(`the maintenance thread exited (${code})`));
    this.ready = this.ask(null);
  }

  async run(now: Date): Promise<MaintenanceReport> {
    const ready = await this.ready;
    if (ready.type !== "ready") throw new Error(`the maintenance thread did not start: ${JSON.stringify(ready)}`);
    const reply = await this.ask({ type: "run", now: now.getTime() });
    if (reply.type === "done") return reply.report;
    throw new Error(reply.type === "failed" ? reply.message : `unexpected reply ${reply.type}`);
  }

  /** After the batch in progress; the thread closes its connection, then ends. */
  async stop(): Promise<void> {
    if (!this.broken) {
      await this.ready;
      await this.ask({ type: "stop" });
    }
    await this.worker.terminate();
  }

  private ask(request: WorkerRequest | null): Promise<WorkerReply> {
    return new Promise((resolve) => {
      if (this.broken) return resolve({ type: "failed", message: "the maintenance thread is gone" });
      this.replies.push(resolve);
      if (request !== null) this.worker.postMessage(request);
    });
  }
}

/** Only plain values cross to the worker: never the keys. */
function maintenanceConfigOf(config: Config): MaintenanceConfig {
  const { database, refreshTokenTtl, loginThrottle } = config;
  return { database, refreshTokenTtl, loginThrottle };
}

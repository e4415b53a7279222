import type { FastifyInstance } from "fastify";
import { buildApp } from "./app";
import { ConfigError, loadConfig } from "./config";
import { developmentKeyFiles } from "./development-keys";

/**
 * Copies of one signal arrive together: Ctrl-C in a terminal signals the whole
 * process group, so the server gets SIGINT from the terminal and again from
 * `npm start`, which forwards it; a process manager that signals the group
 * (systemd's default) does the same. Those count once; a signal this long
 * after the first is a second one.
 */
const SAME_SIGNAL_MS = 1_000;

/** Process entry: config, build, listen, and a graceful stop on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(process.env, developmentKeyFiles());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const { config, warnings } = loaded;
  const app = await buildApp(config);
  for (const warning of warnings) app.log.warn(warning);
  stopOnSignals(app, config.shutdownTimeoutSeconds);
  await app.listen({ host: config.host, port: config.port });
}

/**
 * BEHAVIOUR.md §1: on SIGTERM/SIGINT stop accepting, answer in-flight requests
 * (with `Connection: close`, see http/graceful-close.ts), close idle
 * keep-alive connections and the database, exit 0. If that takes longer than
 * `timeoutSeconds` (a client that never finishes its request, a database that
 * does not answer), exit 1; a second signal exits 1 at once.
 */
function stopOnSignals(app: FastifyInstance, timeoutSeconds: number): void {
  let firstSignalAt: number | undefined;
  const stop = (signal: NodeJS.Signals) => {
    const now = performance.now();
    if (firstSignalAt !== undefined) {
      if (now - firstSignalAt < SAME_SIGNAL_MS) {
        app.log.info({ signal }, "the same signal again (a copy sent to the process group): still stopping");
        return;
      }
      app.log.warn({ signal }, "second signal: exiting without finishing in-flight requests");
      process.exit(1);
    }
    firstSignalAt = now;
    app.log.info({ signal, timeoutSeconds }, "stopping: finishing in-flight requests");
    const deadline = setTimeout(() => {
      app.log.error({ timeoutSeconds }, "stopping took longer than SHUTDOWN_TIMEOUT: exiting");
      process.exit(1);
    }, timeoutSeconds * 1000);
    // close() stops accepting, lets in-flight requests finish, closes idle sockets, then the database.
    app.close().then(
      () => {
        clearTimeout(deadline);
        app.log.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        app.log.error({ err: error }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error: unknown) => {
  console.error("failed to start:", error instanceof Error ? error.message : error);
  process.exit(1);
});

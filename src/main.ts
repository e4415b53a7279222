import { buildApp } from "./app";
import { ConfigError, loadConfig } from "./config";
import { developmentKeyFiles } from "./development-keys";

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

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, "stopping: finishing in-flight requests");
    // close() stops accepting, lets in-flight requests finish, then closes the database.
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);

  await app.listen({ host: config.host, port: config.port });
}

main().catch((error: unknown) => {
  console.error("failed to start:", error instanceof Error ? error.message : error);
  process.exit(1);
});

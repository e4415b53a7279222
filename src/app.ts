import "reflect-metadata";
import cookie from "@fastify/cookie";
import Fastify, { type FastifyInstance } from "fastify";
import type { Clock } from "./clock";
import type { Config } from "./config";
import { databaseIsOpen, type Orm, openDatabase, sqliteWriteGroups } from "./db/orm";
import { SqliteReads } from "./db/sqlite-reads";
import { OutboxStore } from "./db/stores/outbox-store";
import { startApollo } from "./graphql/apollo";
import { createContext } from "./graphql/context";
import { proxyTrust, registerClientAddress } from "./http/client-address";
import { closeConnectionsWhenStopping } from "./http/graceful-close";
import { registerGraphQLRoute } from "./http/graphql-route";
import { registerHealthRoutes } from "./http/health";
import { registerJwksRoute } from "./http/jwks";
import { loggerOptions } from "./http/logger";
import { Metrics, serveMetrics } from "./http/metrics";
import { OneLinePerRequest } from "./http/request-log";
import { registerHttpSecurity } from "./http/security";
import { DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts, httpTimeoutOptions } from "./http/timeouts";
import type { MailEvent } from "./mail/events";
import { startMaintenance } from "./maintenance/schedule";
import { createServices, type Services } from "./services";

declare module "fastify" {
  interface FastifyInstance {
    /** The database of this server (readiness, operator tasks, grey-box tests). */
    orm: Orm;
    /** The domain services of this server (grey-box tests: queueing mail without the email domain). */
    services: Services;
  }
}

export interface BuildOptions {
  /** Where the JSON log goes; stdout by default. */
  logStream?: { write(line: string): void };
  /** Sees every SQL statement (tests count queries with it). */
  onQuery?: (sql: string) => void;
  /** The time every lifetime, grace period and window is measured by; tests pass one they can move. */
  clock?: Clock;
  /** HTTP timeouts; tests shorten them instead of waiting 30 s. */
  httpTimeouts?: Partial<HttpTimeouts>;
  /** Milliseconds between maintenance runs, instead of MAINTENANCE_INTERVAL (tests run it every few ms). */
  maintenanceIntervalMs?: number;
}

/** A message given up is an operator's problem (error); a retry is worth a look (warn). */
const MAIL_EVENT_LEVEL: Record<MailEvent["event"], "info" | "warn" | "error"> = {
  mail_sent: "info",
  mail_retry: "warn",
  mail_failed: "error",
  mail_outbox_unavailable: "warn",
};

/** Where mail goes, for the log: the SMTP host and port, never the login or password in SMTP_URL. */
function mailDescription(config: Config): Record<string, string> {
  const { transport, smtpUrl, fileDir } = config.mail;
  if (transport === "file") return { transport, dir: fileDir };
  const url = new URL(smtpUrl as string);
  return { transport, server: `${url.protocol}//${url.host}` };
}

/** Request bodies above this get 413 before any parsing (BEHAVIOUR.md "Errors"). */
const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Builds the whole server (HTTP, GraphQL, database) for a config. `main.ts`
 * listens with it; the tests start it on an ephemeral port the same way.
 * Closing the returned instance drains requests, then closes the database.
 */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { ...loggerOptions(config.logLevel), ...(options.logStream ? { stream: options.logStream } : {}) },
    logController: new OneLinePerRequest(),
    trustProxy: proxyTrust(config.trustProxy),
    bodyLimit: BODY_LIMIT_BYTES,
    ...httpTimeoutOptions({ ...DEFAULT_HTTP_TIMEOUTS, ...options.httpTimeouts }),
  });

  // Before anything reads request.ip: forwarded entries that are not IP addresses are dropped.
  registerClientAddress(app, config.trustProxy);
  closeConnectionsWhenStopping(app);
  await registerHttpSecurity(app, config);
  await app.register(cookie);

  const orm = await openDatabase(config.database, {
    log: (message) => app.log.info(message),
    onQuery: options.onQuery,
  });
  app.decorate("orm", orm);
  const sqliteReads =
    config.database.kind === "sqlite"
      ? new SqliteReads(config.database.path, { isOpen: () => databaseIsOpen(orm), onQuery: options.onQuery })
      : undefined;
  // Work requests started and did not wait for (email/deferred-work.ts) finishes first.
  let beforeDatabaseCloses = async () => {};
  app.addHook("onClose", async () => {
    await beforeDatabaseCloses();
    sqliteReads?.close();
    await orm.close();
  });

  const metrics = new Metrics();
  const services = await createServices(config, {
    clock: options.clock,
    sqliteReads,
    sqliteWriteGroups: config.database.kind === "sqlite" ? sqliteWriteGroups(orm, options.onQuery) : undefined,
    events: (event) => {
      metrics.countAuthEvent(event);
      const warn =
        event.event === "refresh_token_reused" ||
        event.event === "login_throttled" ||
        event.event === "passkey_clone_suspected";
      app.log[warn ? "warn" : "info"](event, `auth event: ${event.event}`);
    },
    mailEvents: (event) => {
      metrics.countMailEvent(event);
      app.log[MAIL_EVENT_LEVEL[event.event]](event, `mail event: ${event.event}`);
    },
  });
  beforeDatabaseCloses = () => services.email.drain();
  app.decorate("services", services);
  await startMaintenance(app, orm, config, services, options.maintenanceIntervalMs);
  const { mailWorker } = services;
  if (mailWorker !== null) {
    // Stopped before the database closes: the message being sent is finished and
    // recorded, claimed ones not yet started are given back; anything still claimed
    // (the database went first) is sent again when its lease runs out.
    mailWorker.start(() => orm.em.fork());
    app.addHook("preClose", () => mailWorker.stop());
    app.log.info(mailDescription(config), "mail: sending queued mail");
  }
  const apollo = await startApollo(app, config, (name, seconds) => metrics.observeOperation(name, seconds));
  registerGraphQLRoute(app, apollo, async (request, reply) =>
    createContext(request, reply, () => orm.em.fork(), services, config.refreshTokenTransport),
  );
  registerHealthRoutes(app, orm);
  registerJwksRoute(app, config.jwt.keys);
  const outboxStore = new OutboxStore(config.database.kind);
  await serveMetrics(app, config.metricsPort, metrics, services.passwordHasher, {
    pending: () => outboxStore.countPending(orm.em.fork()),
  });
  return app;
}

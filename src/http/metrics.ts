import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { AuthEvent } from "../auth/events";
import type { MailEvent } from "../mail/events";

/**
 * Operation names get a histogram label each up to this many; later ones
 * are counted as `other`. Clients choose names, so without a cap anyone
 * could grow the server's memory and every scrape, one name at a time.
 */
export const MAX_OPERATION_NAMES = 50;

/**
 * The server's Prometheus metrics (BEHAVIOUR.md §11), in a registry of its
 * own rather than prom-client's global one, so servers in one process (the
 * tests) never share or clash. Counting is always on and cheap; the numbers
 * are served only when METRICS_PORT is set (`serveMetrics`).
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly operations: Histogram<"operation">;
  private readonly authEvents: Counter<"event" | "outcome">;
  private readonly operationNames = new Set<string>();
  private readonly mailSent: Counter<"template">;
  private readonly mailFailed: Counter<"template">;
  private readonly mailRetries: Counter<"template">;

  constructor() {
    this.operations = new Histogram({
      name: "auth_graphql_operation_duration_seconds",
      help: "Time from receiving a GraphQL operation to its response, by operation name (anonymous, invalid: did not parse or validate, other: beyond the first 50 names)",
      labelNames: ["operation"],
      registers: [this.registry],
    });
    this.authEvents = new Counter({
      name: "auth_events_total",
      help: "Security events: register, login, login_throttled, refresh, refresh_token_reused, logout, logout_all, session_revoked, password_changed; by outcome",
      labelNames: ["event", "outcome"],
      registers: [this.registry],
    });
    this.mailSent = new Counter({
      name: "auth_mail_sent_total",
      help: "Mails the outbox delivered (accepted by the SMTP server, or written as a file), by template",
      labelNames: ["template"],
      registers: [this.registry],
    });
    this.mailFailed = new Counter({
      name: "auth_mail_failed_total",
      help: "Mails given up after the whole retry period (24 h), by template: each one never arrived",
      labelNames: ["template"],
      registers: [this.registry],
    });
    this.mailRetries = new Counter({
      name: "auth_mail_attempt_failures_total",
      help: "Delivery attempts that failed and will be retried after a back-off, by template",
      labelNames: ["template"],
      registers: [this.registry],
    });
  }

  /** For the mail worker's events: one more sent, failed or retried message. */
  countMailEvent(event: MailEvent): void {
    if (event.event === "mail_sent") this.mailSent.inc({ template: event.template });
    else if (event.event === "mail_failed") this.mailFailed.inc({ template: event.template });
    else if (event.event === "mail_retry") this.mailRetries.inc({ template: event.template });
  }

  /** For the AuthEventSink: one more of this event and outcome. */
  countAuthEvent(event: AuthEvent): void {
    this.authEvents.inc({ event: event.event, outcome: event.outcome });
  }

  /** One more operation Apollo answered (`graphql/request-plugin.ts`), by the name it resolved to. */
  observeOperation(operationName: string | null | undefined, seconds: number): void {
    this.operations.observe({ operation: this.operationLabel(operationName) }, seconds);
  }

  /** undefined: the operation never resolved (parse or validation failed); null: it has no name. */
  private operationLabel(name: string | null | undefined): string {
    if (name === undefined) return "invalid";
    if (name === null) return "anonymous";
    if (this.operationNames.has(name)) return name;
    if (this.operationNames.size >= MAX_OPERATION_NAMES) return "other";
    this.operationNames.add(name);
    return name;
  }
}

/** What the metrics read from the mail outbox at scrape time. */
export interface OutboxGauge {
  /** Messages waiting to be sent (a query; the scrape fails if the database does not answer). */
  pending(): Promise<number>;
}

/**
 * With METRICS_PORT set: adds the hashing queue's depth, the mail outbox's
 * backlog and Node's process metrics, and serves the registry as Prometheus text at
 * http://127.0.0.1:METRICS_PORT/metrics. A listener of its own, on loopback
 * only: never on the public port (where /metrics is a 404), so the numbers
 * reach a local agent or sidecar, not the internet. Closed with the app.
 */
export async function serveMetrics(
  app: FastifyInstance,
  port: number | null,
  metrics: Metrics,
  hashing: { readonly queueDepth: { running: number; waiting: number } },
  outbox: OutboxGauge,
): Promise<void> {
  if (port === null) return;
  const { registry } = metrics;
  new Gauge({
    name: "auth_mail_outbox_pending",
    help: "Mails in the outbox waiting to be sent, including those waiting out a back-off (all instances: one database)",
    registers: [registry],
    async collect() {
      this.set(await outbox.pending());
    },
  });
  new Gauge({
    name: "auth_password_hashes_running",
    help: "argon2 hashes or verifications running now (at most HASH_MAX_CONCURRENT)",
    registers: [registry],
    collect() {
      this.set(hashing.queueDepth.running);
    },
  });
  new Gauge({
    name: "auth_password_hashes_waiting",
    help: "argon2 operations waiting for a slot now (beyond HASH_MAX_QUEUED they are refused with RATE_LIMITED)",
    registers: [registry],
    collect() {
      this.set(hashing.queueDepth.waiting);
    },
  });
  collectDefaultMetrics({ register: registry });

  const server = createServer((request, response) => {
    if (request.method !== "GET" || request.url !== "/metrics") {
      response.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => {
        app.log.error({ err: error }, "metrics: collecting failed");
        response.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  app.log.info(`metrics listening at http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
  app.addHook("onClose", async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
}

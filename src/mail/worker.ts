import type { EntityManager } from "@mikro-orm/core";
import type { Clock } from "../clock";
import type { ClaimedMessage, OutboxStore } from "../db/stores/outbox-store";
import type { MailEventSink } from "./events";
import { MAIL_TEMPLATES, type MailTemplate } from "./messages";
import type { PayloadCipher } from "./payload-cipher";
import type { MailTemplates } from "./templates";
import type { Delivery, MailTransport } from "./transports";

export interface RetryPolicy {
  /** Seconds before the second attempt; each later wait doubles. */
  firstBackoff: number;
  /** The longest wait between attempts, seconds. */
  maxBackoff: number;
  /** A message that still fails this many seconds after it was queued is given up (status failed). */
  retryFor: number;
}

/**
 * 30 s, 1 min, 2 min … capped at 1 h, for 24 h: a short SMTP hiccup costs
 * seconds, a day-long outage about 30 attempts per message, and nothing is
 * given up before a day has passed (BEHAVIOUR.md §7).
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { firstBackoff: 30, maxBackoff: 3600, retryFor: 86_400 };

/**
 * Seconds a claimed message belongs to its sender. Longer than an attempt
 * can take (transports.ts bounds SMTP at well under a minute per step), so
 * a live sender always finishes first; a sender that died leaves it due again
 * when this runs out.
 */
export const LEASE_SECONDS = 300;

/** Messages claimed at once; sent a few at a time (one per pooled SMTP connection). */
const CLAIM_BATCH = 10;

export interface MailWorkerOptions {
  store: OutboxStore;
  cipher: PayloadCipher;
  templates: MailTemplates;
  transport: MailTransport;
  clock: Clock;
  events: MailEventSink;
  /** MAIL_FROM. */
  from: string;
  /** Given to every template. */
  common: { productName: string; appUrl: string };
  /** Looks at the outbox this often when nothing woke it (other instances' mail, retries coming due). */
  pollIntervalMs: number;
  /** Messages sent at once. */
  concurrency: number;
  retry?: RetryPolicy;
}

/**
 * Sends what the outbox holds (BEHAVIOUR.md §7): claims due messages, renders
 * them, hands them to the transport, and records the outcome. A failure
 * waits an exponentially growing, jittered time and tries again, for at
 * least `retryFor`; then the message is failed and reported at error level.
 *
 * One loop per process: claim a batch, send it, claim again while there is
 * more, else wait for `wake()` or the poll interval. Every time it compares
 * is the injected clock's, so tests move through a back-off instead of
 * sleeping.
 */
export class MailWorker {
  private readonly retry: RetryPolicy;
  private stopping = false;
  private running: Promise<void> | null = null;
  private woken = false;
  private wakeUp: (() => void) | null = null;

  constructor(private readonly options: MailWorkerOptions) {
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
  }

  /** Starts the loop; `fork` gives it a fresh EntityManager for each round. */
  start(fork: () => EntityManager): void {
    if (this.running !== null) return;
    this.running = this.loop(fork);
  }

  /** Looks at the outbox now (a transaction that queued mail has just committed). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /**
   * Ends the loop after the messages being sent now; messages claimed but not
   * started are given back. Whatever is still claimed after that (the
   * database went away) is sent by the next sender once its lease runs out.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.running;
    this.options.transport.close();
  }

  private async loop(fork: () => EntityManager): Promise<void> {
    while (!this.stopping) {
      let claimed = 0;
      this.woken = false;
      try {
        claimed = await this.round(fork());
      } catch (error) {
        this.options.events({ event: "mail_outbox_unavailable", error: describeError(error, []) });
      }
      // A full batch: there may be more due right now.
      if (claimed < CLAIM_BATCH && !this.woken) await this.idle();
    }
  }

  /** Claims one batch and sends it; returns how many were claimed. */
  private async round(em: EntityManager): Promise<number> {
    const now = this.options.clock.now();
    const leaseUntil = new Date(now.getTime() + LEASE_SECONDS * 1000);
    const batch = await this.options.store.claim(em, now, leaseUntil, CLAIM_BATCH);
    const queue = [...batch];
    const sender = async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        if (this.stopping) {
          await this.options.store.release(em, next.id, leaseUntil);
          continue;
        }
        await this.deliver(em, next);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, batch.length) }, sender));
    return batch.length;
  }

  private async deliver(em: EntityManager, message: ClaimedMessage): Promise<void> {
    const { store, clock, events, transport } = this.options;
    const { id, template, attempts } = message;
    let params: Record<string, string> = {};
    let delivery: Delivery;
    try {
      if (message.payload === null) throw new Error("the message has no payload");
      params = this.options.cipher.open(message.payload, id);
      if (!(MAIL_TEMPLATES as readonly string[]).includes(template)) {
        throw new Error(`unknown template ${JSON.stringify(template)} (queued by another version?)`);
      }
      const rendered = this.options.templates.render(template as MailTemplate, { ...params, ...this.options.common });
      delivery = await transport.send({
        messageId: message.messageId,
        from: this.options.from,
        to: message.recipient,
        ...rendered,
        date: clock.now(),
      });
    } catch (failure) {
      // The SMTP reply often quotes the recipient, and may quote the message: neither reaches the log.
      const error = describeError(failure, [...Object.values(params), message.recipient]);
      const now = clock.now();
      if (now.getTime() - message.createdAt.getTime() >= this.retry.retryFor * 1000) {
        await store.markFailed(em, id, now, error);
        events({ event: "mail_failed", id, template, attempts, error });
        return;
      }
      const nextAttemptAt = new Date(now.getTime() + backoffSeconds(attempts, this.retry) * 1000);
      await store.markRetry(em, id, nextAttemptAt, error);
      events({ event: "mail_retry", id, template, attempts, error, nextAttemptAt });
      return;
    }
    // Accepted. If this write fails (the database went away), the claim runs out and the
    // mail is sent again with the same Message-ID: at least once, never lost.
    await store.markSent(em, id, clock.now());
    events({
      event: "mail_sent",
      id,
      template,
      attempts,
      ...(delivery.kind === "file" ? { file: delivery.file } : {}),
    });
  }

  /** Until `wake()`, `stop()` or the poll interval. */
  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(done, this.options.pollIntervalMs);
      // The worker alone never keeps the process alive.
      timer.unref();
      this.wakeUp = done;
      if (this.woken || this.stopping) done();
    });
  }
}

/**
 * Seconds to wait after the `attempts`-th failure: doubling from
 * `firstBackoff` up to `maxBackoff`, then spread ±25 % so messages that
 * failed together (an SMTP outage) do not all come back in the same second.
 */
export function backoffSeconds(attempts: number, policy: RetryPolicy, random = Math.random()): number {
  const base = Math.min(policy.maxBackoff, policy.firstBackoff * 2 ** Math.min(30, Math.max(0, attempts - 1)));
  return base * (0.75 + random / 2);
}

/** MAIL_OUTBOX's last_error: at most this many characters. */
const MAX_ERROR_LENGTH = 500;

/**
 * An error as it may be stored and logged: its code and message (for SMTP,
 * the server's reply), with every param value cut out, because a server may
 * quote the message back, and the params hold tokens.
 */
export function describeError(error: unknown, secrets: readonly string[]): string {
  const e = error as { code?: unknown; responseCode?: unknown; message?: unknown };
  let text = [
    typeof e.code === "string" ? e.code : null,
    typeof e.responseCode === "number" ? String(e.responseCode) : null,
    typeof e.message === "string" ? e.message : String(error),
  ]
    .filter((part) => part !== null)
    .join(" ");
  for (const secret of secrets) {
    if (secret.length >= 4) text = text.split(secret).join("[redacted]");
  }
  return text.replace(/\s+/g, " ").slice(0, MAX_ERROR_LENGTH);
}

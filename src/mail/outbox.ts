import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import type { Clock } from "../clock";
import type { OutboxStore } from "../db/stores/outbox-store";
import { MAIL_TEMPLATES, type OutgoingMail } from "./messages";
import type { PayloadCipher } from "./payload-cipher";
import { TEMPLATE_PARAMS } from "./templates";

export interface MailOutboxOptions {
  /** False with MAIL_TRANSPORT=none: nothing is queued. */
  enabled: boolean;
  store: OutboxStore;
  cipher: PayloadCipher;
  clock: Clock;
  /** The right-hand side of every Message-ID (MAIL_FROM's domain). */
  messageIdDomain: string;
  /** What sends the queue; `wake()` nudges it. */
  worker: { wake(): void } | null;
}

/**
 * The mail outbox (BEHAVIOUR.md §7; README "Mail"). The domain queues a mail
 * inside the transaction of the change that causes it:
 *
 * ```ts
 * await transaction(em, async (tx) => {
 *   // … the change …
 *   await services.mail.enqueue(tx, { template: "sign-in", to: email, params: { link, code, expiresInMinutes: "10" } });
 * });
 * services.mail.wake();
 * ```
 *
 * so a mail exists exactly when its change committed, and a rolled-back
 * change sends nothing. Nothing here talks to SMTP: the worker
 * (`worker.ts`) sends later, with retries, and the mutation never waits for
 * it.
 */
export class MailOutbox {
  /** False with MAIL_TRANSPORT=none: `enqueue` and `wake` do nothing. */
  readonly enabled: boolean;

  constructor(private readonly options: MailOutboxOptions) {
    this.enabled = options.enabled;
  }

  /**
   * Queues `mail` in `tx`, the caller's transaction: it is sent once that
   * commits (and never if it rolls back). Params are sealed (payload-cipher.ts)
   * before they reach the row. Throws on a mail the templates cannot render
   * (an unknown template, a missing or extra param): a programming error,
   * better found in the transaction than by the worker a day later.
   */
  async enqueue(tx: EntityManager, mail: OutgoingMail): Promise<void> {
    if (!this.enabled) return;
    checkMail(mail);
    const id = randomUUID();
    await this.options.store.insert(tx, {
      id,
      messageId: `<${id}@${this.options.messageIdDomain}>`,
      recipient: mail.to,
      template: mail.template,
      payload: this.options.cipher.seal(mail.params, id),
      createdAt: this.options.clock.now(),
    });
  }

  /** Call after the transaction that queued mail commits: the worker sends now instead of at its next poll. */
  wake(): void {
    if (this.enabled) this.options.worker?.wake();
  }
}

/** The shape the templates were checked against at start (templates.ts). */
function checkMail(mail: OutgoingMail): void {
  if (!(MAIL_TEMPLATES as readonly string[]).includes(mail.template)) {
    throw new TypeError(`mail: unknown template ${JSON.stringify(mail.template)}`);
  }
  // One address, no header folding or injection.
  if (!/^[^\s@<>,;"]+@[^\s@<>,;"]+$/.test(mail.to)) throw new TypeError("mail: `to` is not a single address");
  const expected = Object.keys(TEMPLATE_PARAMS[mail.template]).sort();
  const given = Object.keys(mail.params).sort();
  if (expected.join(",") !== given.join(",")) {
    throw new TypeError(
      `mail: ${mail.template} takes params ${expected.join(", ") || "(none)"}; got ${given.join(", ")}`,
    );
  }
  for (const [name, value] of Object.entries(mail.params)) {
    if (typeof value !== "string") throw new TypeError(`mail: param ${name} of ${mail.template} is not a string`);
  }
}

/** The domain of a From address (`Name <a@b.example>` → `b.example`), for Message-IDs. */
export function domainOf(from: string): string {
  const address = /<([^<>]+)>\s*$/.exec(from)?.[1] ?? from;
  return address.slice(address.lastIndexOf("@") + 1).trim();
}

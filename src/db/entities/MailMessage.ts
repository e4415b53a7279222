import { Entity, Index, PrimaryKey, Property, t } from "@mikro-orm/core";

export type MailStatus = "pending" | "sent" | "failed";

/**
 * One mail in the outbox (BEHAVIOUR.md §7): inserted in the transaction of
 * the change that causes it, so a mail exists exactly when its change was
 * committed, and sent later by the worker (`mail/worker.ts`). The entity
 * describes the table for migrations; reads and writes go through
 * `stores/outbox-store.ts`.
 */
@Entity({ tableName: "mail_outbox" })
// The worker's claim: pending messages whose time has come, soonest first.
@Index({ properties: ["status", "nextAttemptAt"] })
// Maintenance deletes delivered and abandoned messages, oldest first, one index each.
@Index({ properties: ["sentAt"] })
@Index({ properties: ["failedAt"] })
export class MailMessage {
  @PrimaryKey({ type: "uuid" })
  id!: string;

  /** RFC 5322 Message-ID (`<uuid@domain>`), fixed at enqueue: every retry sends the same one, so a receiver can drop a duplicate. */
  @Property({ type: "string", length: 320, unique: true })
  messageId!: string;

  @Property({ type: "string", length: 320 })
  recipient!: string;

  /** One of MAIL_TEMPLATES (mail/messages.ts). */
  @Property({ type: "string", length: 64 })
  template!: string;

  /**
   * The template's params, AES-256-GCM under a key derived from SECRET_KEYS
   * (the key's id inside, so a rotation keeps old rows readable): they hold
   * live sign-in and reset tokens, and a copy of the database must not yield
   * them. Null once the message is sent or given up.
   */
  @Property({ type: "text", nullable: true })
  payload!: string | null;

  @Property({ type: "string", length: 16 })
  status!: MailStatus;

  /** Delivery attempts started (a claim counts one). */
  @Property({ type: "integer" })
  attempts!: number;

  /** Not sent before this (the back-off after a failure). */
  @Property({ type: t.datetime })
  nextAttemptAt!: Date;

  /** A worker is sending it until then; past it (the worker died) the message is due again. */
  @Property({ type: t.datetime, nullable: true })
  claimedUntil!: Date | null;

  /** Why the last attempt failed: the SMTP reply or error code, never the payload. */
  @Property({ type: "string", length: 500, nullable: true })
  lastError!: string | null;

  @Property({ type: t.datetime })
  createdAt!: Date;

  @Property({ type: t.datetime, nullable: true })
  sentAt!: Date | null;

  /** When the worker gave up (past the retry period). */
  @Property({ type: t.datetime, nullable: true })
  failedAt!: Date | null;
}

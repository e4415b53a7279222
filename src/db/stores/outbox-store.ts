import type { EntityManager } from "@mikro-orm/core";
import { batchDeleteSql, dateOf, execute, queryRows, type Row } from "../sql";
import { transaction } from "../transaction";
import type { Dialect } from "./session-store";

/** A row as the outbox inserts it. */
export interface NewOutboxMessage {
  id: string;
  messageId: string;
  recipient: string;
  template: string;
  payload: string;
  createdAt: Date;
}

/** A message a worker has claimed: it sends it, then records the outcome. */
export interface ClaimedMessage {
  id: string;
  messageId: string;
  recipient: string;
  template: string;
  /** Sealed params; null only if the row was tampered with. */
  payload: string | null;
  /** Attempts including this one. */
  attempts: number;
  createdAt: Date;
}

const COLUMNS = "id, message_id, recipient, template, payload, attempts, created_at";
/** Pending, its time come, and nobody's lease running. */
const DUE = "status = 'pending' and next_attempt_at <= ? and (claimed_until is null or claimed_until <= ?)";

const SQL = {
  insert: `insert into mail_outbox (id, message_id, recipient, template, payload, status, attempts, next_attempt_at,
      claimed_until, last_error, created_at, sent_at, failed_at)
    values (?, ?, ?, ?, ?, 'pending', 0, ?, null, null, ?, null, null)`,
  sent: `update mail_outbox set status = 'sent', sent_at = ?, payload = null, claimed_until = null, last_error = null
    where id = ? and status = 'pending'`,
  retry:
    "update mail_outbox set next_attempt_at = ?, claimed_until = null, last_error = ? where id = ? and status = 'pending'",
  failed: `update mail_outbox set status = 'failed', failed_at = ?, payload = null, claimed_until = null, last_error = ?
    where id = ? and status = 'pending'`,
  // An attempt that never started (the server stopped first): due again now, and not counted.
  release:
    "update mail_outbox set claimed_until = null, attempts = attempts - 1 where id = ? and status = 'pending' and claimed_until = ?",
  pending: "select count(*) as n from mail_outbox where status = 'pending'",
} as const;

/**
 * Every SQL statement of the mail outbox (`mail/outbox.ts`, `mail/worker.ts`).
 *
 * A claim marks due messages as taken until a lease runs out, in one
 * statement. PostgreSQL: the due rows are locked `for update skip locked`, so
 * instances claiming at once each take different rows and never wait for one
 * another; a row another instance claimed and committed is re-checked against
 * `claimed_until` and skipped. SQLite: the claim's transaction begins
 * IMMEDIATE, taking the one write lock before it reads, so claims run one at
 * a time. Either way a message is
 * claimed by one sender at a time, and a sender that dies leaves a lease that
 * simply runs out.
 */
export class OutboxStore {
  private readonly claimSql: string;
  private readonly pruneSql: { sent: string; failed: string };

  constructor(dialect: Dialect) {
    const due = `select id from mail_outbox where ${DUE} order by next_attempt_at limit ?`;
    this.claimSql =
      dialect === "postgres"
        ? `update mail_outbox set claimed_until = ?, attempts = attempts + 1
            where id = any(array(${due} for update skip locked)) returning ${COLUMNS}`
        : `update mail_outbox set claimed_until = ?, attempts = attempts + 1 where id in (${due}) returning ${COLUMNS}`;
    this.pruneSql = {
      sent: batchDeleteSql(dialect, "mail_outbox", "id", "sent_at", "<"),
      failed: batchDeleteSql(dialect, "mail_outbox", "id", "failed_at", "<"),
    };
  }

  /** In the caller's transaction: the message is queued exactly when the caller's change commits. */
  async insert(tx: EntityManager, m: NewOutboxMessage): Promise<void> {
    await execute(tx, SQL.insert, [m.id, m.messageId, m.recipient, m.template, m.payload, m.createdAt, m.createdAt]);
  }

  /** Takes up to `limit` due messages until `leaseUntil`, the longest waiting first. */
  async claim(em: EntityManager, now: Date, leaseUntil: Date, limit: number): Promise<ClaimedMessage[]> {
    // A transaction of its own: BEGIN IMMEDIATE on SQLite, so the claim has the write lock before it reads.
    const rows = await transaction(em, (tx) => queryRows(tx, this.claimSql, [leaseUntil, now, now, limit]));
    return rows.map(claimedOf);
  }

  async markSent(em: EntityManager, id: string, now: Date): Promise<void> {
    await execute(em, SQL.sent, [now, id]);
  }

  async markRetry(em: EntityManager, id: string, nextAttemptAt: Date, error: string): Promise<void> {
    await execute(em, SQL.retry, [nextAttemptAt, error, id]);
  }

  async markFailed(em: EntityManager, id: string, now: Date, error: string): Promise<void> {
    await execute(em, SQL.failed, [now, error, id]);
  }

  /** Gives back a claim whose attempt never started, if it is still this claim (`leaseUntil`). */
  async release(em: EntityManager, id: string, leaseUntil: Date): Promise<void> {
    await execute(em, SQL.release, [id, leaseUntil]);
  }

  /** Messages waiting to be sent (the backlog metric). */
  async countPending(em: EntityManager): Promise<number> {
    const [row] = await queryRows(em, SQL.pending, []);
    return Number(row?.n ?? 0);
  }

  /** Deletes at most `limit` messages sent (or given up) before `before`, oldest first; returns how many. */
  pruneBatch(em: EntityManager, outcome: "sent" | "failed", before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneSql[outcome], [before, limit, before]);
  }
}

function claimedOf(row: Row): ClaimedMessage {
  return {
    id: String(row.id),
    messageId: String(row.message_id),
    recipient: String(row.recipient),
    template: String(row.template),
    payload: row.payload === null || row.payload === undefined ? null : String(row.payload),
    attempts: Number(row.attempts),
    createdAt: dateOf(row.created_at),
  };
}

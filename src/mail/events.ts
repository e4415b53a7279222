/**
 * What the mail worker reports, as structured records for the JSON log and
 * the metrics: which message (the outbox row's id) and template, how many
 * attempts; never the recipient, the params or the rendered mail (they hold
 * tokens), and errors as the SMTP reply with any param value removed.
 */
export type MailEvent =
  | { event: "mail_sent"; id: string; template: string; attempts: number; file?: string }
  | { event: "mail_retry"; id: string; template: string; attempts: number; error: string; nextAttemptAt: Date }
  | { event: "mail_failed"; id: string; template: string; attempts: number; error: string }
  /** The outbox itself could not be read or written (the database is down); the worker tries again at its next poll. */
  | { event: "mail_outbox_unavailable"; error: string };

export type MailEventSink = (event: MailEvent) => void;

export const ignoreMailEvents: MailEventSink = () => {};

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTransport } from "nodemailer";
import type { MailConfig } from "../config";

/** One rendered message, ready for the wire. */
export interface Envelope {
  /** `<uuid@domain>`, the same on every attempt. */
  messageId: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  date: Date;
}

/** Where a message went: for the log, never the content. */
export type Delivery = { kind: "smtp"; response: string } | { kind: "file"; file: string };

/** Something that delivers a message or throws; the worker owns retries. */
export interface MailTransport {
  send(envelope: Envelope): Promise<Delivery>;
  /** Closes pooled connections (the server is stopping). */
  close(): void;
}

/**
 * SMTP timeouts, ms. nodemailer waits up to 2 min to connect and 10 min on a
 * silent socket; a message is leased to one sender for LEASE_SECONDS
 * (worker.ts), and an attempt must end well within it, or the lease runs out
 * while the first attempt still waits and a second sender starts.
 */
/** Connections kept open to the SMTP server: a burst of mail is sent a few at a time, not one by one. */
export const SMTP_MAX_CONNECTIONS = 3;

const SMTP_TIMEOUTS = { connectionTimeout: 20_000, greetingTimeout: 20_000, socketTimeout: 60_000 };

/**
 * SMTP_URL through nodemailer: `smtp://` speaks plain SMTP and upgrades with
 * STARTTLS when the server offers it (port 587, the submission port);
 * `smtps://` is TLS from the first byte (port 465). Connections are pooled
 * and reused between messages. The URL's user and password (percent-encoded)
 * are the SMTP login; they are never logged.
 */
export function smtpTransport(smtpUrl: string): MailTransport {
  const url = new URL(smtpUrl);
  const secure = url.protocol === "smtps:";
  const transport = createTransport({
    pool: true,
    maxConnections: SMTP_MAX_CONNECTIONS,
    // A message whose connection dropped goes back to the outbox, not to a queue in memory.
    maxRequeues: 0,
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? (secure ? 465 : 587) : Number(url.port),
    secure,
    ...(url.username === ""
      ? {}
      : { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }),
    ...SMTP_TIMEOUTS,
    // nodemailer's own logger stays off: it would print the conversation (and the message) to stdout.
    logger: false,
  });
  return {
    async send(envelope) {
      const info = await transport.sendMail(messageOf(envelope));
      return { kind: "smtp", response: info.response };
    },
    close: () => transport.close(),
  };
}

/**
 * MAIL_TRANSPORT=file (development): each message as an `.eml` file in
 * `dir`, which is created at the first message (loading the configuration
 * writes nothing). Any mail client opens it; the name says when, which
 * template and which message, and holds no token.
 */
export function fileTransport(dir: string): MailTransport {
  const transport = createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    async send(envelope) {
      const info = await transport.sendMail(messageOf(envelope));
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const stamp = envelope.date.toISOString().replace(/[:.]/g, "-");
      const id = envelope.messageId.replace(/^<|@.*$/g, "");
      const file = join(dir, `${stamp}-${id}.eml`);
      // The files hold live tokens: owner-only, like the database.
      writeFileSync(file, info.message as Buffer, { mode: 0o600 });
      return { kind: "file", file };
    },
    close: () => transport.close(),
  };
}

/** The transport MAIL_TRANSPORT names; null for `none`. */
export function transportOf(mail: MailConfig): MailTransport | null {
  switch (mail.transport) {
    case "smtp":
      return smtpTransport(mail.smtpUrl as string);
    case "file":
      return fileTransport(mail.fileDir);
    case "none":
      return null;
  }
}

function messageOf(envelope: Envelope) {
  return {
    from: envelope.from,
    to: envelope.to,
    subject: envelope.subject,
    text: envelope.text,
    html: envelope.html,
    messageId: envelope.messageId,
    date: envelope.date,
  };
}

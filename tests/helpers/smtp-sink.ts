import type { AddressInfo } from "node:net";
import { type AddressObject, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

/** One message the sink accepted, parsed. */
export interface ReceivedMail {
  /** The first To address, bare (`user@example.com`). */
  to: string;
  /** The From header as written (`"Auth server" <no-reply@…>` or a bare address). */
  from: string;
  subject: string;
  text: string;
  html: string;
  /** With its angle brackets, as in the header: `<uuid@domain>`. */
  messageId: string;
  /** Every header, lower-case names, as mailparser reads them. */
  headers: Map<string, unknown>;
}

export interface SmtpSink {
  /** smtp://127.0.0.1:PORT, for SMTP_URL. */
  url: string;
  /** Everything accepted so far, in order. */
  messages: ReceivedMail[];
  /** Every SMTP login (AUTH) the sink accepted, as the client sent it. */
  logins: Array<{ username: string; password: string }>;
  /** Resolves with the first message (already received or arriving) matching, or rejects after timeoutMs (default 10 s) naming what it waited for. */
  waitFor(predicate: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** Make the server refuse (421 to new connections, 451 to each message) until `accept()`: an outage the worker must ride out. */
  refuse(): void;
  accept(): void;
  close(): Promise<void>;
}

/** An SMTP reply with a code, as smtp-server sends it. */
function reply(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

/**
 * A real SMTP server on 127.0.0.1 and an ephemeral port that keeps what it
 * receives: the server's worker talks to it exactly as to a mail provider.
 * Plain SMTP (STARTTLS not offered, so nodemailer sends in clear on
 * loopback), any login or none accepted (and recorded).
 */
export async function startSmtpSink(): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const logins: SmtpSink["logins"] = [];
  const waiting = new Set<{ predicate: (m: ReceivedMail) => boolean; resolve: (m: ReceivedMail) => void }>();
  let refusing = false;

  const server = new SMTPServer({
    disabledCommands: ["STARTTLS"],
    authOptional: true,
    // Loopback only: a login without TLS is what a test of SMTP_URL's credentials needs.
    allowInsecureAuth: true,
    logger: false,
    // The built-in test certificate is never used (no STARTTLS); this silences its warning.
    hideSTARTTLS: true,
    onAuth: (auth, _session, callback) => {
      logins.push({ username: auth.username ?? "", password: auth.password ?? "" });
      callback(null, { user: auth.username ?? "anyone" });
    },
    onConnect: (_session, callback) => callback(refusing ? reply(421, "Service not available, try later") : null),
    onMailFrom: (_address, _session, callback) =>
      callback(refusing ? reply(451, "Temporary local problem, try later") : null),
    onData: (stream, _session, callback) => {
      simpleParser(stream).then(
        (parsed) => {
          const to = parsed.to as AddressObject | undefined;
          const mail: ReceivedMail = {
            to: to?.value[0]?.address ?? "",
            from: parsed.from?.text ?? "",
            subject: parsed.subject ?? "",
            text: parsed.text ?? "",
            html: typeof parsed.html === "string" ? parsed.html : "",
            messageId: parsed.messageId ?? "",
            headers: parsed.headers as Map<string, unknown>,
          };
          messages.push(mail);
          for (const waiter of waiting) {
            if (waiter.predicate(mail)) {
              waiting.delete(waiter);
              waiter.resolve(mail);
            }
          }
          callback(null);
        },
        (error: Error) => callback(error),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;

  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    logins,
    waitFor(predicate, timeoutMs = 10_000) {
      const found = messages.find(predicate);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (m: ReceivedMail) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiting.delete(waiter);
          reject(
            new Error(
              `no mail matching ${predicate.toString()} within ${timeoutMs} ms; received ${messages.length}: ${JSON.stringify(messages.map((m) => ({ to: m.to, subject: m.subject })))}`,
            ),
          );
        }, timeoutMs);
        waiting.add(waiter);
      });
    },
    refuse: () => {
      refusing = true;
    },
    accept: () => {
      refusing = false;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The environment for startServer that sends mail to `sink` (tests that need mail; the default is MAIL_TRANSPORT=none). */
export function mailEnv(sink: SmtpSink): Record<string, string> {
  return {
    MAIL_TRANSPORT: "smtp",
    SMTP_URL: sink.url,
    MAIL_FROM: "Auth server <no-reply@auth.test>",
    APP_URL: "https://app.auth.test",
    MAIL_POLL_INTERVAL: "0.05",
  };
}

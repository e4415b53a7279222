import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { transaction } from "../src/db/transaction";
import { TEST_DATABASE } from "./helpers/database";
import { enqueueMail, signInMail } from "./helpers/mail";
import { tempDir } from "./helpers/process";
import { startServer, type TestServer } from "./helpers/server";
import { mailEnv, type SmtpSink, startSmtpSink } from "./helpers/smtp-sink";

/**
 * BEHAVIOUR.md §7: mail is written to an outbox in the transaction of the
 * change and sent by a background worker with retries and back-off for at
 * least 24 hours; SMTP being down loses nothing; several instances never send
 * one message twice; text and HTML parts. Through the real server and a real
 * SMTP server (the sink), the clock moved instead of waited for.
 */

const HOUR = 3_600;

interface OutboxRow {
  id: string;
  message_id: string;
  recipient: string;
  status: string;
  attempts: number;
  payload: string | null;
  last_error: string | null;
  claimed_until: unknown;
}

const rows = (server: TestServer) =>
  server.sql<OutboxRow>(
    "select id, message_id, recipient, status, attempts, payload, last_error, claimed_until from mail_outbox order by created_at, id",
  );
/** Waits until every row satisfies `check` (the worker runs on its own; the test only looks). */
const waitForRows = (server: TestServer, check: (row: OutboxRow) => boolean, count: number) =>
  vi.waitFor(
    async () => {
      const all = await rows(server);
      expect(all.length).toBe(count);
      expect(all.filter((r) => !check(r))).toEqual([]);
    },
    { timeout: 10_000, interval: 20 },
  );
/** `n` attempts made and the last one's outcome recorded (a claimed row is still being tried). */
const tried = (n: number) => (r: OutboxRow) => r.attempts === n && r.claimed_until === null;
/** The worker's log lines of one event, parsed. */
const mailEvents = (server: TestServer, event: string) =>
  server.logs.filter((l) => l.includes(`"event":"${event}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
const address = (n: number) => `user${n}.${Date.now()}@example.com`;
/** Gives the worker a few poll intervals to do anything it would do (here: nothing more). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe(`the mail outbox on ${TEST_DATABASE} (§7)`, () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(() => sink.close());

  it("sends a queued mail once, with text and HTML parts, its subject, the product name and a stable Message-ID", async () => {
    const server = await startServer({ ...mailEnv(sink), MAIL_PRODUCT_NAME: "Acme Cloud" });
    try {
      const to = address(1);
      const token = "tok_arrives_once_0123456789";
      await enqueueMail(server, signInMail(to, token, "739104"));
      const mail = await sink.waitFor((m) => m.to === to);

      expect(mail.subject).toBe("Your Acme Cloud sign-in code");
      expect(mail.from).toBe('"Auth server" <no-reply@auth.test>');
      expect(mail.text).toContain(`https://app.auth.test/sign-in?token=${token}`);
      expect(mail.text).toContain("739104");
      expect(mail.html).toContain(`href="https://app.auth.test/sign-in?token=${token}"`);
      expect(mail.html).toContain("Acme Cloud");
      expect(mail.headers.get("content-type")).toMatchObject({ value: "multipart/alternative" });
      expect(mail.messageId).toMatch(/^<[0-9a-f-]{36}@auth\.test>$/);

      await waitForRows(server, (r) => r.status === "sent", 1);
      const [row] = await rows(server);
      expect(row?.message_id).toBe(mail.messageId);
      expect(row?.attempts).toBe(1);
      await settle();
      expect(sink.messages.filter((m) => m.to === to)).toHaveLength(1);
      expect(mailEvents(server, "mail_sent")).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it("keeps the params unreadable in the database, and wipes them once sent", async () => {
    const server = await startServer(mailEnv(sink));
    try {
      sink.refuse();
      const to = address(2);
      const token = "tok_secret_in_the_outbox_4f1c9a";
      await enqueueMail(server, signInMail(to, token, "615243"));
      await waitForRows(server, tried(1), 1);

      const [pending] = await server.sql<Record<string, unknown>>("select * from mail_outbox");
      const everything = JSON.stringify(pending);
      expect(pending?.status).toBe("pending");
      expect(typeof pending?.payload).toBe("string");
      for (const secret of [token, "615243", "sign-in?token"]) {
        expect(everything).not.toContain(secret);
        expect(Buffer.from(String(pending?.payload), "base64url").toString("latin1")).not.toContain(secret);
      }
      // Nothing the worker logged or stored as the error holds a param either.
      expect(server.logs.join("\n")).not.toContain(token);

      sink.accept();
      server.clock.advance(HOUR);
      await sink.waitFor((m) => m.to === to);
      await waitForRows(server, (r) => r.status === "sent", 1);
      const [sent] = await rows(server);
      expect(sent?.payload).toBeNull();
      expect(server.logs.join("\n")).not.toContain(token);
    } finally {
      sink.accept();
      await server.close();
    }
  });

  it("rides out an SMTP outage: every queued mail arrives exactly once after the back-off, with the Message-ID it was given", async () => {
    const server = await startServer(mailEnv(sink));
    try {
      sink.refuse();
      const mails = Array.from({ length: 6 }, (_, i) => signInMail(address(100 + i)));
      await enqueueMail(server, ...mails);
      await waitForRows(server, tried(1), mails.length);
      const idsAtEnqueue = (await rows(server)).map((r) => r.message_id);

      // Nothing is retried before its back-off (30 s ± 25 %) is over…
      await settle();
      expect((await rows(server)).map((r) => r.attempts)).toEqual(mails.map(() => 1));
      // …and after it, each is tried again (and refused again).
      server.clock.advance(40);
      await waitForRows(server, tried(2), mails.length);
      server.clock.advance(80);
      await waitForRows(server, tried(3), mails.length);
      expect(sink.messages.filter((m) => mails.some((mail) => mail.to === m.to))).toEqual([]);
      const retry = mailEvents(server, "mail_retry");
      expect(retry.length).toBeGreaterThanOrEqual(mails.length * 3);
      expect(retry[0]).toMatchObject({ level: 40, template: "sign-in", attempts: 1 });
      expect(String(retry[0]?.error)).toMatch(/421|451/);

      sink.accept();
      server.clock.advance(HOUR);
      await Promise.all(mails.map((mail) => sink.waitFor((m) => m.to === mail.to)));
      await waitForRows(server, (r) => r.status === "sent", mails.length);
      await settle();

      const received = sink.messages.filter((m) => mails.some((mail) => mail.to === m.to));
      expect(received).toHaveLength(mails.length);
      expect(received.map((m) => m.messageId).sort()).toEqual([...idsAtEnqueue].sort());
      for (const row of await rows(server)) {
        expect(received.find((m) => m.to === row.recipient)?.messageId).toBe(row.message_id);
      }
    } finally {
      sink.accept();
      await server.close();
    }
  });

  it("gives a mail up after 24 hours of attempts with an error event, and never sends it afterwards", async () => {
    const server = await startServer(mailEnv(sink));
    try {
      sink.refuse();
      const token = "tok_given_up_after_a_day_9d2e";
      const lost = signInMail(address(200), token);
      const kept = signInMail(address(201));
      await enqueueMail(server, lost);
      await waitForRows(server, tried(1), 1);

      // 23 hours in, still trying (the back-off is capped at an hour).
      server.clock.advance(23 * HOUR);
      await waitForRows(server, (r) => tried(2)(r) && r.status === "pending", 1);
      // A mail queued now has its own 24 hours.
      await enqueueMail(server, kept);
      await waitForRows(server, (r) => r.attempts >= 1 && r.claimed_until === null, 2);

      server.clock.advance(1 * HOUR + 60);
      await vi.waitFor(async () => {
        const byRecipient = new Map((await rows(server)).map((r) => [r.recipient, r]));
        expect(byRecipient.get(lost.to)?.status).toBe("failed");
        expect(byRecipient.get(kept.to)?.status).toBe("pending");
      });
      const [failed] = mailEvents(server, "mail_failed");
      expect(failed).toMatchObject({ level: 50, template: "sign-in", attempts: 3 });
      expect(String(failed?.error)).toMatch(/421|451/);
      const row = (await rows(server)).find((r) => r.recipient === lost.to);
      expect(row?.payload).toBeNull();
      expect(row?.last_error).toMatch(/421|451/);
      expect(server.logs.join("\n")).not.toContain(token);

      sink.accept();
      server.clock.advance(2 * HOUR);
      await sink.waitFor((m) => m.to === kept.to);
      await settle();
      expect(sink.messages.filter((m) => m.to === lost.to)).toEqual([]);
      expect(sink.messages.filter((m) => m.to === kept.to)).toHaveLength(1);
    } finally {
      sink.accept();
      await server.close();
    }
  });

  it("sends a mail whose sender died mid-attempt once its claim runs out, and a mail queued before a restart after it", async () => {
    const first = await startServer(mailEnv(sink));
    const crashed = signInMail(address(300));
    const waiting = signInMail(address(301));
    let second: TestServer | undefined;
    try {
      // As a sender that claimed it and died would leave it: claimed for the next 5 minutes.
      sink.refuse();
      await enqueueMail(first, crashed);
      await waitForRows(first, tried(1), 1);
      const lease = new Date(first.clock.now().getTime() + 300_000);
      await first.sql("update mail_outbox set claimed_until = ?, next_attempt_at = ?", [
        TEST_DATABASE === "sqlite" ? lease.getTime() : lease,
        TEST_DATABASE === "sqlite" ? first.clock.now().getTime() : first.clock.now(),
      ]);
      sink.accept();
      await settle();
      expect(sink.messages.filter((m) => m.to === crashed.to)).toEqual([]);
      first.clock.advance(301);
      await sink.waitFor((m) => m.to === crashed.to);

      // Queued, then the server stops before its worker sends it: the next start sends it.
      sink.refuse();
      await enqueueMail(first, waiting);
      await vi.waitFor(async () => {
        const row = (await rows(first)).find((r) => r.recipient === waiting.to);
        expect(row && tried(1)(row)).toBe(true);
      });
      await first.close();
      sink.accept();
      second = await startServer(mailEnv(sink), first.databaseUrl, first.clock);
      second.clock.advance(HOUR);
      await sink.waitFor((m) => m.to === waiting.to);
      await waitForRows(second, (r) => r.status === "sent", 2);
      await settle();
      expect(sink.messages.filter((m) => m.to === crashed.to || m.to === waiting.to)).toHaveLength(2);
    } finally {
      sink.accept();
      await first.close();
      await second?.close();
    }
  });

  it("stops gracefully mid-backlog: the mails being sent are finished, the claimed rest given back and sent by the next start", async () => {
    const first = await startServer(mailEnv(sink));
    let second: TestServer | undefined;
    try {
      const mails = Array.from({ length: 40 }, (_, i) => signInMail(address(600 + i)));
      await enqueueMail(first, ...mails);
      // Stop while the worker is in its first batches.
      await sink.waitFor((m) => m.to === mails[0]?.to);
      await first.close();
      const sentBefore = sink.messages.filter((m) => mails.some((mail) => mail.to === m.to)).length;
      expect(sentBefore).toBeLessThan(mails.length);

      // No claim is left behind (looked at through a server that sends nothing), so the next
      // start sends the rest at once, without waiting for a lease to run out.
      const look = await startServer({}, first.databaseUrl);
      const leftovers = await rows(look);
      await look.close();
      expect(leftovers.filter((r) => r.claimed_until !== null)).toEqual([]);
      expect(leftovers.filter((r) => r.status === "sent")).toHaveLength(sentBefore);
      second = await startServer(mailEnv(sink), first.databaseUrl, first.clock);
      await Promise.all(mails.map((mail) => sink.waitFor((m) => m.to === mail.to)));
      await waitForRows(second, (r) => r.status === "sent", mails.length);
      await settle();
      expect(sink.messages.filter((m) => mails.some((mail) => mail.to === m.to))).toHaveLength(mails.length);
      // A given-back claim was not an attempt.
      expect((await rows(second)).every((r) => r.attempts === 1)).toBe(true);
    } finally {
      await first.close();
      await second?.close();
    }
  });

  it("queues nothing when the change's transaction rolls back, and nothing with MAIL_TRANSPORT=none", async () => {
    const server = await startServer(mailEnv(sink));
    const off = await startServer();
    try {
      const to = address(400);
      await expect(
        transaction(server.app.orm.em.fork(), async (tx) => {
          await server.app.services.mail.enqueue(tx, signInMail(to));
          throw new Error("the change failed");
        }),
      ).rejects.toThrow("the change failed");
      server.app.services.mail.wake();
      await settle();
      expect(await rows(server)).toEqual([]);
      expect(sink.messages.filter((m) => m.to === to)).toEqual([]);

      expect(off.app.services.mail.enabled).toBe(false);
      await enqueueMail(off, signInMail(address(401)));
      expect(await rows(off)).toEqual([]);
    } finally {
      await server.close();
      await off.close();
    }
  });

  it("refuses a mail the templates cannot render, in the caller's transaction", async () => {
    const server = await startServer(mailEnv(sink));
    try {
      const { mail } = server.app.services;
      const em = server.app.orm.em.fork();
      const bad = [
        { template: "sign-in", to: "a@example.com", params: { link: "x", expiresInMinutes: "10" } },
        {
          template: "sign-in",
          to: "a@example.com",
          params: { link: "x", code: "1", expiresInMinutes: "1", extra: "" },
        },
        { template: "welcome", to: "a@example.com", params: {} },
        { template: "password-changed", to: "a@example.com\r\nBcc: b@example.com", params: {} },
      ];
      for (const m of bad) await expect(mail.enqueue(em, m as never), JSON.stringify(m)).rejects.toThrow(TypeError);
      expect(await rows(server)).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it("logs in with SMTP_URL's percent-encoded user and password, and never logs the password", async () => {
    const password = "p@ss:w/rd-9f3e";
    const url = new URL(sink.url);
    const smtpUrl = `smtp://${encodeURIComponent("mailer@auth.test")}:${encodeURIComponent(password)}@${url.host}`;
    const server = await startServer({ ...mailEnv(sink), SMTP_URL: smtpUrl });
    try {
      const to = address(450);
      await enqueueMail(server, signInMail(to));
      await sink.waitFor((m) => m.to === to);
      expect(sink.logins).toContainEqual({ username: "mailer@auth.test", password });
      const started = server.logs.find((l) => l.includes("mail: sending queued mail"));
      expect(started).toContain(`"server":"smtp://${url.host}"`);
      for (const secret of [password, encodeURIComponent(password), "mailer"]) {
        expect(server.logs.join("\n")).not.toContain(secret);
      }
    } finally {
      await server.close();
    }
  });

  it.skipIf(TEST_DATABASE !== "postgres")(
    "two instances on one database drain one outbox, each mail exactly once, round after round",
    async () => {
      const first = await startServer(mailEnv(sink));
      const second = await startServer(mailEnv(sink), first.databaseUrl);
      try {
        for (let round = 0; round < 3; round++) {
          const mails = Array.from({ length: 100 }, (_, i) => signInMail(`r${round}.m${i}.${Date.now()}@example.com`));
          // All queued through one instance in several transactions, then both woken at once: they claim from
          // one backlog side by side.
          await Promise.all([0, 1, 2, 3].map((part) => enqueueMail(first, ...mails.filter((_, i) => i % 4 === part))));
          second.app.services.mail.wake();
          await Promise.all(mails.map((mail) => sink.waitFor((m) => m.to === mail.to, 20_000)));
          await waitForRows(first, (r) => r.status === "sent", 100 * (round + 1));
          await settle();

          const received = sink.messages.filter((m) => mails.some((mail) => mail.to === m.to));
          expect(received).toHaveLength(100);
          expect(new Set(received.map((m) => m.messageId)).size).toBe(100);
          const sentBy = [first, second].map((s) => mailEvents(s, "mail_sent").length);
          console.log(`[mail] round ${round}: sent by each instance so far ${sentBy.join(" + ")}`);
        }
        const [a, b] = [first, second].map((s) => mailEvents(s, "mail_sent").length);
        expect((a ?? 0) + (b ?? 0)).toBe(300);
        // Both took part (SKIP LOCKED lets them claim side by side).
        expect(a).toBeGreaterThan(0);
        expect(b).toBeGreaterThan(0);
      } finally {
        await first.close();
        await second.close();
      }
    },
    60_000,
  );
});

describe("MAIL_TRANSPORT=file", () => {
  it("writes each mail as a parseable .eml file, created at the first mail, and logs its name without the token", async () => {
    const dir = join(tempDir(), "mail");
    const server = await startServer({ MAIL_TRANSPORT: "file", MAIL_FILE_DIR: dir });
    try {
      expect(existsSync(dir)).toBe(false);
      const token = "tok_written_to_a_file_5be0";
      const to = address(500);
      await enqueueMail(server, signInMail(to, token, "204816"));
      await vi.waitFor(() => expect(readdirSync(dir).filter((f) => f.endsWith(".eml"))).toHaveLength(1), {
        timeout: 10_000,
      });
      const [file] = readdirSync(dir);
      expect(file).not.toContain(token);
      const parsed = await simpleParser(readFileSync(join(dir, String(file))));
      expect(parsed.to).toMatchObject({ text: to });
      expect(parsed.subject).toBe("Your Auth server sign-in code");
      expect(parsed.text).toContain(token);
      expect(parsed.html).toContain("204816");

      const [sent] = mailEvents(server, "mail_sent");
      expect(sent?.file).toBe(join(dir, String(file)));
      expect(server.logs.join("\n")).not.toContain(token);
      expect(server.logs.join("\n")).not.toContain("204816");
    } finally {
      await server.close();
    }
  });
});

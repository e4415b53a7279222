import { transaction } from "../../src/db/transaction";
import type { OutgoingMail } from "../../src/mail/messages";
import type { TestServer } from "./server";

/**
 * Queues mails the way the email domain does: in one transaction, then wakes
 * the worker. Through the built app's services (nothing over HTTP).
 */
export async function enqueueMail(server: TestServer, ...mails: OutgoingMail[]): Promise<void> {
  const { mail } = server.app.services;
  await transaction(server.app.orm.em.fork(), async (tx) => {
    for (const m of mails) await mail.enqueue(tx, m);
  });
  mail.wake();
}

/** A sign-in mail to `to` with a recognisable token and code. */
export function signInMail(
  to: string,
  token = `tok_${Math.random().toString(36).slice(2)}`,
  code = "482915",
): OutgoingMail {
  return {
    template: "sign-in",
    to,
    params: { link: `https://app.auth.test/sign-in?token=${token}`, code, expiresInMinutes: "10" },
  };
}

import type { EntityManager } from "@mikro-orm/core";
import { normalizeEmail } from "../auth/emails";
import type { UserStore } from "../db/stores/user-store";
import { transaction } from "../db/transaction";
import type { MailQueue } from "../email/email-accounts";
import { type MfaMethod, notFound } from "../errors";
import type { SecondFactors } from "./second-factors";

/**
 * `npm run cli -- reset-mfa <email>` (BEHAVIOUR.md §8): support removes every
 * second factor of a user who lost them (through the same source list the
 * sign-in asks, so passkeys go too once registered), and the owner is told
 * by mail, in the same transaction. Nothing else changes: sessions, the
 * password and the address stay; the next sign-in asks for no second factor.
 */
export class SecondFactorReset {
  constructor(
    private readonly factors: SecondFactors,
    private readonly users: UserStore,
    private readonly mail: MailQueue,
  ) {}

  /** The methods that were removed (empty: the user had none, and no mail is sent). */
  async reset(em: EntityManager, rawEmail: string): Promise<{ email: string; removed: MfaMethod[] }> {
    const email = normalizeEmail(rawEmail);
    const user = await this.users.findByEmail(em, email);
    if (user === null) throw notFound(`User with email ${JSON.stringify(email)}`);
    const removed = await transaction(em, async (tx) => {
      const gone = await this.factors.removeAll(tx, user.id);
      if (gone.length > 0)
        await this.mail.enqueue(tx, { template: "second-factors-reset", to: user.email, params: {} });
      return gone;
    });
    // The server's worker sends it (at its next poll: this process has no worker to wake).
    this.mail.wake();
    return { email: user.email, removed };
  }
}

import type { EntityManager } from "@mikro-orm/core";
import type { Accounts } from "../auth/accounts";
import type { AuthEventSink } from "../auth/events";
import type { LoginThrottle } from "../auth/login-throttle";
import type { ClientInfo, IssuedTokens, Sessions } from "../auth/sessions";
import type { SessionRecord, UserSummary } from "../db/stores/session-store";
import { transaction } from "../db/transaction";
import { badUserInput, invalidCredentials, unauthenticated, wrongSecondFactor } from "../errors";
import type { PasskeyAssertion, PasskeyVerifier } from "./passkey-verifier";
import { throttledCheck } from "./throttled-check";
import type { TotpAuthenticator } from "./totp-authenticator";

export interface ReauthenticateInput {
  password?: string | null;
  code?: string | null;
  passkey?: PasskeyAssertion | null;
}

/** RFC 8176: a password. */
const PASSWORD_AMR = ["pwd"];

/**
 * `reauthenticate` (BEHAVIOUR.md §8): the signed-in user proves who they are
 * again, with exactly one of a password, a TOTP or recovery code, or a
 * passkey, and the same session gets a new `auth_time` (so the operations
 * that need a recent sign-in work for REAUTH_MAX_AGE more seconds) and `amr`
 * (how the user proved it this time: `auth_time` and `amr` describe the same
 * authentication, OpenID Connect Core §2). Wrong answers count toward the
 * login throttle of the account's email.
 */
export class Reauthentication {
  constructor(
    private readonly accounts: Accounts,
    private readonly totp: TotpAuthenticator,
    private readonly sessions: Sessions,
    private readonly throttle: LoginThrottle,
    /** Null until the passkeys service is glued in. */
    private readonly passkeys: PasskeyVerifier | null,
    private readonly events: AuthEventSink,
  ) {}

  async reauthenticate(
    em: EntityManager,
    viewer: { user: UserSummary; session: SessionRecord },
    input: ReauthenticateInput,
    client: ClientInfo,
  ): Promise<IssuedTokens> {
    const { user, session } = viewer;
    const given = [input.password, input.code, input.passkey].filter((v) => v != null).length;
    if (given !== 1) throw badUserInput("input", "Give exactly one of password, code or passkey");
    const amr = await this.prove(em, user, input, client);
    const issued = await this.sessions.renewAuthentication(em, session.id, amr);
    // Signed out (logout, revocation) while this ran.
    if (issued === null) throw unauthenticated("REVOKED");
    this.totp.mailQueued();
    this.events({
      event: "reauthenticated",
      outcome: "success",
      userId: user.id,
      sessionId: session.id,
      ip: client.ip,
    });
    return issued;
  }

  /** The amr of a right answer; throws INVALID_CREDENTIALS on a wrong one. */
  private async prove(
    em: EntityManager,
    user: UserSummary,
    { password, code, passkey }: ReauthenticateInput,
    client: ClientInfo,
  ): Promise<string[]> {
    if (password != null) {
      if (await this.accounts.verifyPassword(em, user, password, client, "reauthenticated")) return PASSWORD_AMR;
      throw invalidCredentials();
    }
    let amr: string[] | null;
    if (code != null) {
      amr = await throttledCheck(this.throttle, em, user.email, client, async () => {
        const used = await transaction(em, (tx) => this.totp.useCode(tx, user, code, { notifyRecovery: true }));
        return used?.amr ?? null;
      });
    } else {
      const { passkeys } = this;
      if (passkeys === null || passkey == null) throw badUserInput("passkey", "Passkeys are not available");
      amr = await throttledCheck(this.throttle, em, user.email, client, () =>
        passkeys.verifyAssertion(em, user.id, passkey, "reauthenticate", { client }),
      );
    }
    if (amr === null) {
      this.events({
        event: "reauthenticated",
        outcome: "failure",
        reason: "WRONG_FACTOR",
        userId: user.id,
        ip: client.ip,
      });
      throw wrongSecondFactor();
    }
    return amr;
  }
}

import type { EntityManager } from "@mikro-orm/core";
import type { AuthEventSink } from "../auth/events";
import type { LoginThrottle } from "../auth/login-throttle";
import type { ClientInfo, IssuedTokens } from "../auth/sessions";
import type { UserStore } from "../db/stores/user-store";
import { transaction } from "../db/transaction";
import { badUserInput, invalidToken, wrongSecondFactor } from "../errors";
import type { MfaChallenges, OpenMfaChallenge } from "./mfa-challenges";
import type { PasskeyAssertion, PasskeyVerifier } from "./passkey-verifier";
import { throttledCheck } from "./throttled-check";
import type { TotpAuthenticator } from "./totp-authenticator";

export interface VerifyMfaInput {
  mfaToken: string;
  code?: string | null;
  passkey?: PasskeyAssertion | null;
}

/**
 * `verifyMfa` (BEHAVIOUR.md §8): completes a sign-in that answered
 * MFA_REQUIRED with a TOTP code, a recovery code or (through the
 * `PasskeyVerifier` hook) a passkey. An unknown, used, expired or dead
 * mfaToken is INVALID_TOKEN. A wrong code is INVALID_CREDENTIALS, takes a
 * place in the login throttle of the account's email, and counts against
 * the challenge: after 5 it is dead.
 */
export class MfaSignIn {
  constructor(
    private readonly challenges: MfaChallenges,
    private readonly totp: TotpAuthenticator,
    private readonly users: UserStore,
    private readonly throttle: LoginThrottle,
    /** Null until the passkeys service is glued in. */
    private readonly passkeys: PasskeyVerifier | null,
    private readonly events: AuthEventSink,
  ) {}

  async verify(em: EntityManager, input: VerifyMfaInput, client: ClientInfo): Promise<IssuedTokens> {
    const { code, passkey } = input;
    if ((code == null) === (passkey == null)) throw badUserInput("code", "Give either a code or a passkey");
    if (passkey != null && this.passkeys === null) throw badUserInput("passkey", "Passkeys are not available");
    const challenge = await this.challenges.find(em, input.mfaToken);
    if (challenge === null) {
      this.events({ event: "mfa_verified", outcome: "failure", reason: "TOKEN_INVALID", ip: client.ip });
      throw invalidToken();
    }
    const user = await this.users.findById(em, challenge.userId);
    if (user === null) throw invalidToken();

    const issued = await throttledCheck(this.throttle, em, user.email, client, () =>
      code != null
        ? this.withCode(em, challenge, user, code, client)
        : this.withPasskey(em, challenge, passkey, client),
    );
    if (issued === null) {
      this.events({
        event: "mfa_verified",
        outcome: "failure",
        reason: "WRONG_FACTOR",
        userId: user.id,
        ip: client.ip,
      });
      throw wrongSecondFactor();
    }
    this.totp.mailQueued();
    this.events({
      event: "mfa_verified",
      outcome: "success",
      userId: user.id,
      sessionId: issued.sessionId,
      ip: client.ip,
    });
    return issued;
  }

  /**
   * One transaction: the challenge's lock first, then the code's use, then
   * the session. A wrong code is counted in it and committed; a dead
   * challenge throws (nothing was judged: the throttle place goes back).
   */
  private async withCode(
    em: EntityManager,
    challenge: OpenMfaChallenge,
    user: { id: string; email: string },
    code: string,
    client: ClientInfo,
  ): Promise<IssuedTokens | null> {
    return transaction(em, async (tx) => {
      if ((await this.challenges.lock(tx, challenge.id)) === null) throw invalidToken();
      const used = await this.totp.useCode(tx, user, code, { notifyRecovery: true });
      if (used === null) {
        await this.challenges.countWrong(tx, challenge.id);
        return null;
      }
      return this.challenges.completeIn(tx, challenge.id, used.amr, client);
    });
  }

  /**
   * `startPasskeyMfa(mfaToken)`: a passkey ceremony for the user of a sign-in
   * waiting for its second factor. The mfaToken is only looked at: the
   * sign-in completes with `verifyMfa`.
   */
  async startPasskey(
    em: EntityManager,
    mfaToken: string,
  ): Promise<{ challengeId: string; options: Record<string, unknown> }> {
    const challenge = await this.challenges.find(em, mfaToken);
    if (challenge === null) throw invalidToken();
    if (this.passkeys === null) throw badUserInput("mfaToken", "Passkeys are not available");
    return this.passkeys.startMfaCeremony(em, challenge.userId, challenge.id);
  }

  private async withPasskey(
    em: EntityManager,
    challenge: OpenMfaChallenge,
    assertion: PasskeyAssertion | null | undefined,
    client: ClientInfo,
  ): Promise<IssuedTokens | null> {
    if (this.passkeys === null || assertion == null) throw badUserInput("passkey", "Passkeys are not available");
    const amr = await this.passkeys.verifyAssertion(em, challenge.userId, assertion, "mfa", {
      binding: challenge.id,
      client,
    });
    if (amr === null) {
      await this.challenges.countWrong(em, challenge.id);
      return null;
    }
    return this.challenges.complete(em, challenge.id, amr, client);
  }
}

import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import QRCode from "qrcode";
import type { AuthEventSink } from "../auth/events";
import type { LoginThrottle } from "../auth/login-throttle";
import { assertRecentSignIn } from "../auth/recent-sign-in";
import type { ClientInfo } from "../auth/sessions";
import type { Clock } from "../clock";
import type { RecoveryCodeStore } from "../db/stores/recovery-code-store";
import type { UserSummary } from "../db/stores/session-store";
import type { TotpStore } from "../db/stores/totp-store";
import { transaction } from "../db/transaction";
import type { MailQueue } from "../email/email-accounts";
import { badUserInput, notFound, totpAlreadyEnabled, wrongSecondFactor } from "../errors";
import { hashRecoveryCode, newRecoveryCode, normalizeRecoveryCode, RECOVERY_CODE_COUNT } from "./recovery-codes";
import { throttledCheck } from "./throttled-check";
import { base32Of, matchTotpStep, newTotpSecret, parseTotpCode, totpUri } from "./totp";
import type { TotpSecretCipher } from "./totp-secret-cipher";

/** What `startTotpSetup` hands over: everything an authenticator app needs. */
export interface TotpSetup {
  secret: string;
  uri: string;
  qrCodeSvg: string;
}

/** A right second-factor code, and what it proves. */
export interface CodeUse {
  kind: "totp" | "recovery";
  /** RFC 8176: `otp` for both (a recovery code is a one-time password too). */
  amr: string[];
  /** Unused recovery codes left, after a recovery code. */
  remaining?: number;
}

/** The signed-in user and their access token's `auth_time`, for the operations that need a recent sign-in. */
export interface RecentViewer {
  user: UserSummary;
  authTime: number | undefined;
}

export interface TotpOptions {
  /** TOTP_ISSUER: the name the app shows. */
  issuer: string;
  /** REAUTH_MAX_AGE. */
  reauthMaxAge: number;
}

/** What the notice mails call the factor. */
const FACTOR_NAME = "An authenticator app";
const OTP_AMR = ["otp"] as const;

/**
 * TOTP authenticator apps and their recovery codes (BEHAVIOUR.md §8, RFC
 * 6238). Setting up is two steps: `startSetup` stores a pending secret and
 * shows it; nothing is asked at sign-in until `confirmSetup` proved the app
 * makes the right codes. The codes of a sign-in, a re-authentication, a
 * removal or a regeneration are checked by `useCode`, inside the caller's
 * transaction: a TOTP step or a recovery code is used by one conditional
 * UPDATE, so of concurrent uses of one code exactly one succeeds.
 */
export class TotpAuthenticator {
  constructor(
    private readonly store: TotpStore,
    private readonly recoveryCodes: RecoveryCodeStore,
    private readonly cipher: TotpSecretCipher,
    private readonly mail: MailQueue,
    private readonly throttle: LoginThrottle,
    private readonly options: TotpOptions,
    private readonly clock: Clock,
    private readonly events: AuthEventSink,
  ) {}

  /** `startTotpSetup` (recent sign-in): a new pending secret, replacing an earlier pending one. */
  async startSetup(em: EntityManager, viewer: RecentViewer, client: ClientInfo): Promise<TotpSetup> {
    assertRecentSignIn(viewer.authTime, this.clock.now(), this.options.reauthMaxAge);
    const { user } = viewer;
    const secret = newTotpSecret();
    const saved = await transaction(em, (tx) =>
      this.store.savePending(tx, randomUUID(), user.id, this.cipher.seal(secret, user.id), this.clock.now()),
    );
    if (!saved) throw totpAlreadyEnabled();
    const uri = totpUri(secret, this.options.issuer, user.email);
    this.events({ event: "totp_setup_started", outcome: "success", userId: user.id, ip: client.ip });
    return { secret: base32Of(secret), uri, qrCodeSvg: await QRCode.toString(uri, { type: "svg" }) };
  }

  /**
   * `confirmTotpSetup(code)`: the first code from the app activates it, and
   * 10 new recovery codes are returned, the only time they are shown. A
   * wrong code activates nothing (INVALID_CREDENTIALS; the setup stays
   * pending). The code's step counts as used: it cannot sign in afterwards.
   */
  async confirmSetup(em: EntityManager, user: UserSummary, typed: string, client: ClientInfo): Promise<string[]> {
    const code = parseTotpCode(typed);
    if (code === null) throw badUserInput("code", "The code is the 6 digits the app shows");
    const codes = await transaction(em, async (tx) => {
      const stored = await this.store.find(tx, user.id);
      if (stored === null) throw notFound("Authenticator app setup");
      if (stored.confirmedAt !== null) throw totpAlreadyEnabled();
      const secret = this.cipher.open(stored.sealedSecret, user.id);
      const step = secret === null ? null : matchTotpStep(secret, code, this.clock.now(), null);
      // A setup replaced meanwhile (another startTotpSetup) is not confirmed with the old secret's code.
      if (step === null || !(await this.store.confirm(tx, user.id, stored.sealedSecret, step, this.clock.now())))
        return null;
      const recovery = await this.replaceRecoveryCodes(tx, user.id);
      await this.mail.enqueue(tx, { template: "second-factor-added", to: user.email, params: { factor: FACTOR_NAME } });
      return recovery;
    });
    if (codes === null) {
      this.events({ event: "totp_enabled", outcome: "failure", reason: "WRONG_CODE", userId: user.id, ip: client.ip });
      throw wrongSecondFactor();
    }
    this.mail.wake();
    this.events({ event: "totp_enabled", outcome: "success", userId: user.id, ip: client.ip });
    return codes;
  }

  /** `disableTotp(code)` (recent sign-in; a TOTP or recovery code): removes the app and its recovery codes, with a notice. */
  async disable(em: EntityManager, viewer: RecentViewer, typed: string, client: ClientInfo): Promise<boolean> {
    const { user } = this.assertActiveAndRecent(viewer);
    await this.assertEnabled(em, user.id);
    const done = await throttledCheck(this.throttle, em, user.email, client, () =>
      transaction(em, async (tx) => {
        if ((await this.useCode(tx, user, typed, { notifyRecovery: false })) === null) return null;
        await this.store.deleteOfUser(tx, user.id);
        await this.recoveryCodes.deleteOfUser(tx, user.id);
        await this.mail.enqueue(tx, {
          template: "second-factor-removed",
          to: user.email,
          params: { factor: FACTOR_NAME },
        });
        return true;
      }),
    );
    if (done === null) {
      this.events({ event: "totp_disabled", outcome: "failure", reason: "WRONG_CODE", userId: user.id, ip: client.ip });
      throw wrongSecondFactor();
    }
    this.mail.wake();
    this.events({ event: "totp_disabled", outcome: "success", userId: user.id, ip: client.ip });
    return true;
  }

  /** `regenerateRecoveryCodes(code)` (recent sign-in; a TOTP or recovery code): 10 new codes, the old ones void. */
  async regenerateRecoveryCodes(
    em: EntityManager,
    viewer: RecentViewer,
    typed: string,
    client: ClientInfo,
  ): Promise<string[]> {
    const { user } = this.assertActiveAndRecent(viewer);
    await this.assertEnabled(em, user.id);
    const codes = await throttledCheck(this.throttle, em, user.email, client, () =>
      transaction(em, async (tx) => {
        if ((await this.useCode(tx, user, typed, { notifyRecovery: false })) === null) return null;
        return this.replaceRecoveryCodes(tx, user.id);
      }),
    );
    if (codes === null) {
      this.events({
        event: "recovery_codes_regenerated",
        outcome: "failure",
        reason: "WRONG_CODE",
        userId: user.id,
        ip: client.ip,
      });
      throw wrongSecondFactor();
    }
    this.events({ event: "recovery_codes_regenerated", outcome: "success", userId: user.id, ip: client.ip });
    return codes;
  }

  /**
   * Checks and uses a TOTP code (6 digits) or a recovery code of `user` in
   * `tx`; null when it is wrong or used already. A TOTP secret sealed under
   * an older key of SECRET_KEYS is sealed again under the current one.
   * `notifyRecovery`: a recovery code that signs someone in queues the
   * "recovery code used" notice in `tx` (the caller wakes the mail after it
   * commits).
   */
  async useCode(
    tx: EntityManager,
    user: Pick<UserSummary, "id" | "email">,
    typed: string,
    { notifyRecovery }: { notifyRecovery: boolean },
  ): Promise<CodeUse | null> {
    const totp = parseTotpCode(typed);
    if (totp !== null) return (await this.useTotp(tx, user.id, totp)) ? { kind: "totp", amr: [...OTP_AMR] } : null;
    const recovery = normalizeRecoveryCode(typed);
    if (recovery === null) return null;
    if (!(await this.recoveryCodes.use(tx, user.id, hashRecoveryCode(recovery), this.clock.now()))) return null;
    const remaining = await this.recoveryCodes.countUnused(tx, user.id);
    if (notifyRecovery) {
      await this.mail.enqueue(tx, {
        template: "recovery-code-used",
        to: user.email,
        params: { remaining: String(remaining) },
      });
    }
    this.events({ event: "recovery_code_used", outcome: "success", userId: user.id, reason: `${remaining} left` });
    return { kind: "recovery", amr: [...OTP_AMR], remaining };
  }

  /** After a transaction in which `useCode` may have queued a notice. */
  mailQueued(): void {
    this.mail.wake();
  }

  private async useTotp(tx: EntityManager, userId: string, code: string): Promise<boolean> {
    const stored = await this.store.find(tx, userId);
    if (stored === null || stored.confirmedAt === null) return false;
    const secret = this.cipher.open(stored.sealedSecret, userId);
    if (secret === null) {
      // Sealed under a key no longer in SECRET_KEYS: the app cannot work until support resets it.
      this.events({ event: "mfa_verified", outcome: "failure", reason: "TOTP_KEY_MISSING", userId });
      return false;
    }
    const step = matchTotpStep(secret, code, this.clock.now(), stored.lastUsedStep);
    if (step === null) return false;
    const resealed = this.cipher.isCurrent(stored.sealedSecret)
      ? stored.sealedSecret
      : this.cipher.seal(secret, userId);
    return this.store.useStep(tx, userId, stored.sealedSecret, step, resealed);
  }

  private async replaceRecoveryCodes(tx: EntityManager, userId: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const hashes = codes.map((code) => hashRecoveryCode(normalizeRecoveryCode(code) as string));
    await this.recoveryCodes.replace(tx, userId, hashes, this.clock.now());
    return codes;
  }

  private assertActiveAndRecent(viewer: RecentViewer): RecentViewer {
    assertRecentSignIn(viewer.authTime, this.clock.now(), this.options.reauthMaxAge);
    return viewer;
  }

  private async assertEnabled(em: EntityManager, userId: string): Promise<void> {
    if (!(await this.store.hasConfirmed(em, userId))) throw notFound("Authenticator app");
  }
}

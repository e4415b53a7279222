import { type EntityManager, UniqueConstraintViolationException } from "@mikro-orm/core";
import type { Clock } from "../clock";
import { User } from "../db/entities";
import type { SessionRecord, UserSummary } from "../db/stores/session-store";
import { summaryOf, type UserStore } from "../db/stores/user-store";
import { transaction } from "../db/transaction";
import { AppError, emailTaken, invalidCredentials, mfaRequired, unauthenticated } from "../errors";
import { isValidEmail, normalizeEmail, parseNewEmail } from "./emails";
import type { AuthEventSink } from "./events";
import type { LoginPlace, LoginThrottle } from "./login-throttle";
import {
  assertAcceptablePassword,
  codePointLength,
  MAX_PASSWORD_LENGTH,
  normalizePassword,
  type PasswordHasher,
} from "./passwords";
import type { SecondFactorGate } from "./second-factor-gate";
import type { ClientInfo, IssuedTokens, Sessions } from "./sessions";

/** The mails an account's changes cause (email/email-accounts.ts), written in the change's transaction. */
export interface AccountMail {
  queueVerification(tx: EntityManager, user: Pick<UserSummary, "id" | "email">): Promise<void>;
  queuePasswordChangedNotice(tx: EntityManager, email: string): Promise<void>;
  /** After the transaction committed. */
  mailQueued(): void;
}

/** RFC 8176: a password was checked. */
const PASSWORD_AMR = ["pwd"] as const;

export interface PasswordChange {
  currentPassword: string;
  newPassword: string;
}

/** Why a login's password check failed, for the auth event. */
interface LoginFailure {
  reason: "PASSWORD_TOO_LONG" | "UNKNOWN_EMAIL" | "WRONG_PASSWORD";
  userId?: string;
}

export interface Credentials {
  email: string;
  password: string;
}

/** Registration and sign-in: the password rules meet sessions here. */
export class Accounts {
  constructor(
    private readonly hasher: PasswordHasher,
    private readonly users: UserStore,
    private readonly sessions: Sessions,
    private readonly throttle: LoginThrottle,
    private readonly mail: AccountMail,
    private readonly secondFactor: SecondFactorGate,
    private readonly passwordMinLength: number,
    private readonly clock: Clock,
    private readonly events: AuthEventSink,
  ) {}

  async register(em: EntityManager, input: Credentials, client: ClientInfo): Promise<IssuedTokens> {
    const email = parseNewEmail(input.email);
    const password = normalizePassword(input.password);
    assertAcceptablePassword(password, email, this.passwordMinLength, "password");
    // Saves an argon2 hash for the common case; the unique index below decides races.
    if ((await this.users.findByEmail(em, email)) !== null) {
      this.events({ event: "register", outcome: "failure", reason: "EMAIL_TAKEN", ip: client.ip });
      throw emailTaken();
    }

    const passwordHash = await this.hasher.hash(password);
    let issued: IssuedTokens;
    try {
      // One transaction: the user and its first session.
      issued = await transaction(em, async (tx) => {
        const now = this.clock.now();
        const user = tx.create(User, { email, passwordHash, createdAt: now, updatedAt: now }, { persist: false });
        await tx.insert(user);
        await this.mail.queueVerification(tx, user);
        return this.sessions.start(tx, summaryOf(user), client, PASSWORD_AMR);
      });
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw emailTaken();
      throw error;
    }
    this.mail.mailQueued();
    this.events({
      event: "register",
      outcome: "success",
      userId: issued.user.id,
      sessionId: issued.sessionId,
      ip: client.ip,
    });
    return issued;
  }

  /**
   * Unknown email and wrong password fail alike, in message and in time: an
   * unknown email still costs one argon2 verification. The attempt takes its
   * place in the login throttle before anything is checked (BEHAVIOUR.md §10).
   */
  async login(em: EntityManager, input: Credentials, client: ClientInfo): Promise<IssuedTokens> {
    const email = normalizeEmail(input.email);
    const password = normalizePassword(input.password);
    const place = await this.reservePasswordCheck(em, email, client, () =>
      this.events({ event: "login_throttled", outcome: "failure", ip: client.ip }),
    );
    const checked = await this.checkInPlace(
      em,
      place,
      async (): Promise<{ user: UserSummary; passwordHash: string } | LoginFailure> => {
        // No account can have such a password, and hashing megabytes is a DoS lever.
        if (codePointLength(password) > MAX_PASSWORD_LENGTH) return { reason: "PASSWORD_TOO_LONG" };
        const found = isValidEmail(email) ? await this.users.findCredentialsByEmail(em, email) : null;
        if (found === null) {
          await this.hasher.verifyDummy(password);
          return { reason: "UNKNOWN_EMAIL" };
        }
        // A password-less account (§9) verifies against nothing, in the same time: WRONG_PASSWORD too.
        const verified = await this.hasher.verify(found.passwordHash, password);
        if (!verified || found.passwordHash === null) return { reason: "WRONG_PASSWORD", userId: found.user.id };
        return { user: found.user, passwordHash: found.passwordHash };
      },
    );
    if (!("user" in checked)) {
      this.events({
        event: "login",
        outcome: "failure",
        reason: checked.reason,
        userId: checked.userId,
        ip: client.ip,
      });
      throw invalidCredentials();
    }
    const { user, passwordHash } = checked;

    // Cost parameters raised since this hash was made: upgrade it now, while we have the password.
    const rehashed = this.hasher.needsRehash(passwordHash) ? await this.hasher.hash(password) : null;
    const outcome = await transaction(em, async (tx) => {
      if (rehashed !== null) await tx.nativeUpdate(User, { id: user.id }, { passwordHash: rehashed });
      const required = await this.secondFactor.challengeIfEnrolled(tx, user.id, PASSWORD_AMR);
      // The password's place stays taken until the second factor is right
      // (verifyMfa forgives it): otherwise each right password would forgive
      // the wrong codes before it, and codes could be guessed without end.
      if (required !== null) return required;
      const issued = await this.sessions.start(tx, user, client, PASSWORD_AMR);
      // In the session's transaction: signed in and forgiven together, in one commit (a commit is most of a write's cost).
      await this.throttle.succeeded(tx, place);
      return issued;
    });
    if ("mfaToken" in outcome) {
      this.events({ event: "mfa_required", outcome: "success", userId: user.id, ip: client.ip });
      throw mfaRequired(outcome.mfaToken, outcome.methods);
    }
    this.events({ event: "login", outcome: "success", userId: user.id, sessionId: outcome.sessionId, ip: client.ip });
    return outcome;
  }

  /**
   * Needs the current password (ASVS 6.2.3). The new one must pass the policy;
   * every other session ends (ASVS 7.4.3: whoever else signed in with the old
   * password is out) and the current session gets fresh tokens.
   */
  async changePassword(
    em: EntityManager,
    viewer: { user: UserSummary; session: SessionRecord },
    input: PasswordChange,
    client: ClientInfo,
  ): Promise<IssuedTokens> {
    const { user, session } = viewer;
    if (!(await this.verifyPassword(em, user, input.currentPassword, client, "password_changed"))) {
      throw invalidCredentials();
    }
    const next = normalizePassword(input.newPassword);
    assertAcceptablePassword(next, user.email, this.passwordMinLength, "newPassword");

    const passwordHash = await this.hasher.hash(next);
    // Lock order: the user's sessions (in id order), then the user's row.
    const issued = await transaction(em, async (tx) => {
      await this.sessions.endAllLocked(tx, user.id, "PASSWORD_CHANGED", session.id);
      const kept = await this.sessions.retireAndReissue(tx, session.id);
      // Signed out (logout, revocation) while the new password was being hashed.
      if (kept === null) throw unauthenticated("REVOKED");
      await tx.nativeUpdate(User, { id: user.id }, { passwordHash, updatedAt: this.clock.now() });
      await this.mail.queuePasswordChangedNotice(tx, user.email);
      return kept;
    });
    this.mail.mailQueued();
    this.events({
      event: "password_changed",
      outcome: "success",
      userId: user.id,
      sessionId: session.id,
      ip: client.ip,
    });
    return issued;
  }

  /**
   * Checks the signed-in user's current password (changePassword,
   * reauthenticate). Whoever holds a stolen access token must not get
   * unlimited guesses at the password through these operations: each check
   * counts with the logins (§10). False when wrong (its failure event sent as
   * `event`); RATE_LIMITED when the throttle has no place.
   */
  async verifyPassword(
    em: EntityManager,
    user: UserSummary,
    typed: string,
    client: ClientInfo,
    event: "password_changed" | "reauthenticated",
  ): Promise<boolean> {
    const current = normalizePassword(typed);
    const place = await this.reservePasswordCheck(em, user.email, client, () =>
      this.events({ event, outcome: "failure", reason: "THROTTLED", userId: user.id, ip: client.ip }),
    );
    const verified = await this.checkInPlace(em, place, async () => {
      if (codePointLength(current) > MAX_PASSWORD_LENGTH) return false;
      // The per-request check never reads the hash; these are the operations that need it.
      const passwordHash = await this.users.passwordHashOf(em, user.id);
      // The signed-in user was deleted meanwhile: nothing to verify against, and no session either.
      if (passwordHash === undefined) throw unauthenticated("REVOKED");
      return this.hasher.verify(passwordHash, current);
    });
    if (!verified) {
      this.events({ event, outcome: "failure", reason: "WRONG_PASSWORD", userId: user.id, ip: client.ip });
      return false;
    }
    await this.throttle.succeeded(em, place);
    return true;
  }

  /**
   * Takes the login throttle's place for one password check of `email`;
   * when there is none, tells `onThrottled` and throws RATE_LIMITED.
   */
  private async reservePasswordCheck(
    em: EntityManager,
    email: string,
    client: ClientInfo,
    onThrottled: () => void,
  ): Promise<LoginPlace> {
    try {
      return await this.throttle.reserve(em, email, client.ip);
    } catch (error) {
      if (error instanceof AppError && error.code === "RATE_LIMITED") onThrottled();
      throw error;
    }
  }

  /**
   * Runs one password check in its place. If it fails before a password was
   * checked (the hashing queue is full, the database failed), the place goes
   * back: no guess was made. Should that fail too, the place counts as a
   * failure until it leaves the window, which errs on the safe side.
   */
  private async checkInPlace<T>(em: EntityManager, place: LoginPlace, check: () => Promise<T>): Promise<T> {
    try {
      return await check();
    } catch (error) {
      await this.throttle.release(em, place).catch(() => undefined);
      throw error;
    }
  }
}

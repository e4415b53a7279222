import { type EntityManager, UniqueConstraintViolationException } from "@mikro-orm/core";
import { isValidEmail, normalizeEmail, parseNewEmail } from "../auth/emails";
import type { AuthEventSink } from "../auth/events";
import type { LoginThrottle } from "../auth/login-throttle";
import { assertAcceptablePassword, normalizePassword, type PasswordHasher } from "../auth/passwords";
import type { RateLimiter } from "../auth/rate-limiter";
import { assertRecentSignIn } from "../auth/recent-sign-in";
import type { MfaRequirement, SecondFactorGate } from "../auth/second-factor-gate";
import type { ClientInfo, IssuedTokens, Sessions } from "../auth/sessions";
import type { Clock } from "../clock";
import type { EmailTokenPurpose } from "../db/entities";
import type { StoredEmailToken } from "../db/stores/email-token-store";
import type { UserSummary } from "../db/stores/session-store";
import type { UserStore } from "../db/stores/user-store";
import { transaction } from "../db/transaction";
import { badUserInput, emailTaken, featureDisabled, invalidCredentials, invalidToken, mfaRequired } from "../errors";
import type { OutgoingMail } from "../mail/messages";
import type { DeferredWork } from "./deferred-work";
import type { EmailTokens } from "./email-tokens";
import { linkTo } from "./links";

/** What the domain needs of the mail outbox (`mail/outbox.ts`). */
export interface MailQueue {
  /** False with MAIL_TRANSPORT=none: the mail-only operations answer FEATURE_DISABLED. */
  readonly enabled: boolean;
  /** Writes the mail in the caller's transaction; sent after it commits, by the worker. */
  enqueue(tx: EntityManager, mail: OutgoingMail): Promise<void>;
  /** After a commit: send without waiting for the next poll. */
  wake(): void;
}

export interface EmailAccountsOptions {
  appUrl: string;
  passwordMinLength: number;
  /** Gives the RATE_LIMITED `retryAfter` of mail requests per email (EMAIL_REQUESTS_PER_HOUR). */
  requestsPerEmail: RateLimiter;
  reauthMaxAge: number;
  /** Identities linked from providers (§9): a reset that proves an unverified address removes the unvouched ones. */
  providerLinks: { dropUnverifiedLinks(tx: EntityManager, userId: string): Promise<number> };
}

/** The sign-in methods (RFC 8176) a mailed link or code proves. */
const EMAIL_AMR = ["email"] as const;
/** The 6-digit code of a sign-in mail. */
const CODE_SHAPE = /^\d{6}$/;

/**
 * BEHAVIOUR.md §7: verification, password reset, email change and sign-in by
 * a mailed link or code. Every mail is written to the outbox in the
 * transaction of the change that causes it; no operation waits for SMTP.
 */
export class EmailAccounts {
  constructor(
    private readonly mail: MailQueue,
    private readonly tokens: EmailTokens,
    private readonly users: UserStore,
    private readonly sessions: Sessions,
    private readonly hasher: PasswordHasher,
    private readonly throttle: LoginThrottle,
    private readonly secondFactor: SecondFactorGate,
    private readonly deferred: DeferredWork,
    private readonly options: EmailAccountsOptions,
    private readonly clock: Clock,
    private readonly events: AuthEventSink,
  ) {}

  /** In register's transaction: the first verification mail. */
  async queueVerification(tx: EntityManager, user: Pick<UserSummary, "id" | "email">): Promise<void> {
    if (!this.mail.enabled) return;
    const { token, expiresInMinutes } = await this.tokens.issue(tx, user, "verify-email", user.email);
    await this.mail.enqueue(tx, {
      template: "verify-email",
      to: user.email,
      params: { link: this.link("verify-email", token), expiresInMinutes: String(expiresInMinutes) },
    });
  }

  /** In a password change's transaction: tell the owner (ASVS 6.2.x: notify on credential change). */
  async queuePasswordChangedNotice(tx: EntityManager, email: string): Promise<void> {
    if (this.mail.enabled) await this.mail.enqueue(tx, { template: "password-changed", to: email, params: {} });
  }

  /** Waits for the requests' deferred work (the server is closing). */
  drain(): Promise<void> {
    return this.deferred.drain();
  }

  /** After a transaction that queued mail committed. */
  mailQueued(): void {
    this.mail.wake();
  }

  /** `requestEmailVerification`: a new link to the signed-in user's address; nothing when already verified. */
  async requestVerification(em: EntityManager, user: UserSummary, client: ClientInfo): Promise<boolean> {
    this.assertEnabled();
    if (user.emailVerified) return true;
    await this.countRequest(em, "verify-email", user.email);
    await transaction(em, (tx) => this.queueVerification(tx, user));
    this.mail.wake();
    this.events({ event: "email_verification_requested", outcome: "success", userId: user.id, ip: client.ip });
    return true;
  }

  /** `verifyEmail(token)`. */
  async verifyEmail(em: EntityManager, presented: string, client: ClientInfo): Promise<boolean> {
    this.assertEnabled();
    const token = await this.usableToken(em, presented, "verify-email", "email_verified", client);
    await transaction(em, async (tx) => {
      await this.useOrRefuse(tx, token, presented);
      await this.users.markEmailVerified(tx, token.userId, this.clock.now());
    });
    this.events({ event: "email_verified", outcome: "success", userId: token.userId, ip: client.ip });
    return true;
  }

  /**
   * `requestPasswordReset(email)`: true at once, whether or not the account
   * exists; the lookup and the mail happen afterwards (see DeferredWork).
   */
  async requestPasswordReset(em: EntityManager, rawEmail: string, client: ClientInfo): Promise<boolean> {
    return this.requestForAccount(em, rawEmail, "reset-password", client, async (tx, user) => {
      const { token, expiresInMinutes } = await this.tokens.issue(tx, user, "reset-password", user.email);
      await this.mail.enqueue(tx, {
        template: "reset-password",
        to: user.email,
        params: { link: this.link("reset-password", token), expiresInMinutes: String(expiresInMinutes) },
      });
    });
  }

  /**
   * `resetPassword`: the policy applies; every session ends (so every
   * refresh token of the user is dead, §6.6); the login throttle for the
   * email is cleared; the address counts as proved; a notice is mailed. It
   * does not sign in.
   */
  async resetPassword(
    em: EntityManager,
    input: { token: string; newPassword: string },
    client: ClientInfo,
  ): Promise<boolean> {
    this.assertEnabled();
    const token = await this.usableToken(em, input.token, "reset-password", "password_reset", client);
    const password = normalizePassword(input.newPassword);
    assertAcceptablePassword(password, token.accountEmail, this.options.passwordMinLength, "newPassword");
    const passwordHash = await this.hasher.hash(password);
    // Lock order: the user's sessions, then the token, then the user's row.
    const ended = await transaction(em, async (tx) => {
      const count = await this.sessions.endAllLocked(tx, token.userId, "PASSWORD_RESET");
      await this.useOrRefuse(tx, token, input.token);
      const now = this.clock.now();
      // Pre-hijacking (Sudhodanan & Paverd, 2022): someone signed up with this address
      // through a provider that did not verify it, before its owner came. The owner
      // proves the mailbox here and sets a password; an identity nobody vouched for
      // must not stay a way into the account they now take over.
      const before = await this.users.findById(tx, token.userId);
      if (before !== null && !before.emailVerified)
        await this.options.providerLinks.dropUnverifiedLinks(tx, token.userId);
      await this.users.setPasswordHash(tx, token.userId, passwordHash, now);
      await this.users.markEmailVerified(tx, token.userId, now);
      await this.queuePasswordChangedNotice(tx, token.accountEmail);
      return count;
    });
    this.mail.wake();
    await this.throttle.clear(em, token.accountEmail);
    this.events({
      event: "password_reset",
      outcome: "success",
      userId: token.userId,
      ip: client.ip,
      reason: `${ended} session(s) ended`,
    });
    return true;
  }

  /**
   * `requestEmailChange(newEmail)` (recent sign-in, §8): a link to the new
   * address, and a notice to the old one so its owner hears of it.
   */
  async requestEmailChange(
    em: EntityManager,
    viewer: { user: UserSummary; authTime: number | undefined },
    rawNewEmail: string,
    client: ClientInfo,
  ): Promise<boolean> {
    this.assertEnabled();
    assertRecentSignIn(viewer.authTime, this.clock.now(), this.options.reauthMaxAge);
    const { user } = viewer;
    const newEmail = parseNewEmail(rawNewEmail, "newEmail");
    if (newEmail === user.email) throw badUserInput("newEmail", "This is already the account's address");
    if ((await this.users.findByEmail(em, newEmail)) !== null) throw emailTaken("newEmail");
    await this.countRequest(em, "email-change", newEmail);
    await transaction(em, async (tx) => {
      const { token, expiresInMinutes } = await this.tokens.issue(tx, user, "email-change", newEmail);
      await this.mail.enqueue(tx, {
        template: "email-change-confirm",
        to: newEmail,
        params: { link: this.link("email-change", token), newEmail, expiresInMinutes: String(expiresInMinutes) },
      });
      await this.mail.enqueue(tx, { template: "email-change-notice", to: user.email, params: { newEmail } });
    });
    this.mail.wake();
    this.events({ event: "email_change_requested", outcome: "success", userId: user.id, ip: client.ip });
    return true;
  }

  /** `confirmEmailChange(token)`: the account moves to the address the link was sent to, now proved. */
  async confirmEmailChange(em: EntityManager, presented: string, client: ClientInfo): Promise<boolean> {
    this.assertEnabled();
    const token = await this.usableToken(em, presented, "email-change", "email_changed", client);
    try {
      await transaction(em, async (tx) => {
        await this.useOrRefuse(tx, token, presented);
        await this.users.changeEmail(tx, token.userId, token.sentTo, this.clock.now());
        // Every other mailed token was for the old address.
        await this.tokens.voidAll(tx, token.userId);
      });
    } catch (error) {
      // Taken since the request: uniqueness is checked again, by the database.
      if (error instanceof UniqueConstraintViolationException) throw emailTaken(null);
      throw error;
    }
    this.events({ event: "email_changed", outcome: "success", userId: token.userId, ip: client.ip });
    return true;
  }

  /** `requestSignInEmail(email)`: a link and a 6-digit code, for existing accounts only; true either way. */
  async requestSignIn(em: EntityManager, rawEmail: string, client: ClientInfo): Promise<boolean> {
    return this.requestForAccount(em, rawEmail, "sign-in", client, async (tx, user) => {
      const { token, code, expiresInMinutes } = await this.tokens.issue(tx, user, "sign-in", user.email);
      await this.mail.enqueue(tx, {
        template: "sign-in",
        to: user.email,
        params: { link: this.link("sign-in", token), code: code ?? "", expiresInMinutes: String(expiresInMinutes) },
      });
    });
  }

  /** `signInWithEmailLink(token)`: a new session; the address counts as proved. */
  async signInWithLink(em: EntityManager, presented: string, client: ClientInfo): Promise<IssuedTokens> {
    this.assertEnabled();
    const token = await this.usableToken(em, presented, "sign-in", "sign_in_email", client);
    const issued = await transaction(em, async (tx) => {
      await this.useOrRefuse(tx, token, presented);
      return this.startVerifiedSession(tx, token.userId, client);
    });
    // The link is used and the address proved, whatever the second factor does next.
    if ("mfaToken" in issued) this.askForSecondFactor(issued, token.userId, client);
    this.events({
      event: "sign_in_email",
      outcome: "success",
      userId: issued.user.id,
      sessionId: issued.sessionId,
      ip: client.ip,
    });
    return issued;
  }

  /**
   * `signInWithEmailCode({email, code})`. A code is 6 digits, so guesses are
   * limited twice: each takes a place in the login throttle (§10) like a
   * password, and the code dies after 5 wrong ones (§7).
   */
  async signInWithCode(
    em: EntityManager,
    input: { email: string; code: string },
    client: ClientInfo,
  ): Promise<IssuedTokens> {
    this.assertEnabled();
    const email = normalizeEmail(input.email);
    if (!CODE_SHAPE.test(input.code)) throw badUserInput("code", "The code is the 6 digits from the sign-in mail");
    // A code takes a place in the login throttle like a password (§10); it is forgiven
    // once the user is in, which with a second factor is only after verifyMfa (accounts.ts).
    const outcome = await this.throttle.checkInPlace(
      em,
      email,
      client.ip,
      () =>
        transaction(em, async (tx): Promise<IssuedTokens | MfaRequirement | "wrong" | null> => {
          const used = isValidEmail(email) ? await this.tokens.useCode(tx, email, input.code) : null;
          if (used === null || used === "wrong") return used;
          return this.startVerifiedSession(tx, used.userId, client);
        }),
      (result) => result !== null && result !== "wrong" && !("mfaToken" in result),
    );
    if (outcome === null || outcome === "wrong") {
      this.events({
        event: "sign_in_email",
        outcome: "failure",
        reason: outcome === null ? "NO_CODE" : "WRONG_CODE",
        ip: client.ip,
      });
      throw invalidCredentials();
    }
    if ("mfaToken" in outcome) this.askForSecondFactor(outcome, null, client);
    this.events({
      event: "sign_in_email",
      outcome: "success",
      userId: outcome.user.id,
      sessionId: outcome.sessionId,
      ip: client.ip,
    });
    return outcome;
  }

  /**
   * The two requests anyone may make for any email. Both are counted per
   * email (whoever asks) before anything else, then answered at once; the
   * account is looked up, and mailed, afterwards, so the answer and its
   * timing are the same whether or not the account exists.
   */
  private async requestForAccount(
    em: EntityManager,
    rawEmail: string,
    purpose: "reset-password" | "sign-in",
    client: ClientInfo,
    queue: (tx: EntityManager, user: UserSummary) => Promise<void>,
  ): Promise<boolean> {
    this.assertEnabled();
    const email = normalizeEmail(rawEmail);
    if (!isValidEmail(email)) throw badUserInput("email", "Email must look like name@example.com");
    await this.countRequest(em, purpose, email);
    const event = purpose === "sign-in" ? "sign_in_email_requested" : "password_reset_requested";
    const background = em.fork();
    this.deferred.run(async () => {
      const user = await this.users.findByEmail(background, email);
      if (user === null) {
        this.events({ event, outcome: "failure", reason: "UNKNOWN_EMAIL", ip: client.ip });
        return;
      }
      await transaction(background, (tx) => queue(tx, user));
      this.mail.wake();
      this.events({ event, outcome: "success", userId: user.id, ip: client.ip });
    });
    return true;
  }

  /** Mail requests per email and purpose, whoever asks (EMAIL_REQUESTS_PER_HOUR): no flooding someone's inbox. */
  private countRequest(em: EntityManager, purpose: EmailTokenPurpose, email: string): Promise<void> {
    return this.options.requestsPerEmail.hit(em, `mail:${purpose}:${this.throttle.pseudonym(email)}`);
  }

  private async usableToken(
    em: EntityManager,
    presented: string,
    purpose: EmailTokenPurpose,
    event: "email_verified" | "password_reset" | "email_changed" | "sign_in_email",
    client: ClientInfo,
  ): Promise<StoredEmailToken> {
    const { verdict, token } = await this.tokens.find(em, presented, purpose);
    if (verdict === "usable" && token !== null) return token;
    this.events({
      event,
      outcome: "failure",
      reason: `TOKEN_${verdict.toUpperCase().replace("-", "_")}`,
      ip: client.ip,
    });
    throw invalidToken();
  }

  /** Inside the transaction that acts on it; throwing rolls that back (another request used it first). */
  private async useOrRefuse(tx: EntityManager, token: StoredEmailToken, presented: string): Promise<void> {
    if (!(await this.tokens.use(tx, token, presented))) throw invalidToken();
  }

  /** A session, or the MFA challenge written instead when the user has a second factor (§8). */
  private async startVerifiedSession(
    tx: EntityManager,
    userId: string,
    client: ClientInfo,
  ): Promise<IssuedTokens | MfaRequirement> {
    await this.users.markEmailVerified(tx, userId, this.clock.now());
    const user = await this.users.findById(tx, userId);
    // The account was deleted as the token was used: the token named no one after all.
    if (user === null) throw invalidToken();
    const required = await this.secondFactor.challengeIfEnrolled(tx, user.id, EMAIL_AMR);
    return required ?? this.sessions.start(tx, user, client, EMAIL_AMR);
  }

  /** After the transaction that wrote the challenge committed: MFA_REQUIRED. */
  private askForSecondFactor(required: MfaRequirement, userId: string | null, client: ClientInfo): never {
    this.events({ event: "mfa_required", outcome: "success", userId: userId ?? undefined, ip: client.ip });
    throw mfaRequired(required.mfaToken, required.methods);
  }

  private link(purpose: "verify-email" | "reset-password" | "email-change" | "sign-in", token: string): string {
    return linkTo(this.options.appUrl, purpose, token);
  }

  private assertEnabled(): void {
    if (!this.mail.enabled) throw featureDisabled("Mail (MAIL_TRANSPORT=none)");
  }
}

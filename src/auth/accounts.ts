import { type EntityManager, UniqueConstraintViolationException } from "@mikro-orm/core";
import type { Clock } from "../clock";
import { User } from "../db/entities";
import type { SessionRecord, UserSummary } from "../db/stores/session-store";
import { transaction } from "../db/transaction";
import { emailTaken, invalidCredentials, unauthenticated } from "../errors";
import { isValidEmail, normalizeEmail, parseNewEmail } from "./emails";
import type { AuthEventSink } from "./events";
import type { LoginThrottle } from "./login-throttle";
import {
  assertAcceptablePassword,
  codePointLength,
  MAX_PASSWORD_LENGTH,
  normalizePassword,
  type PasswordHasher,
} from "./passwords";
import type { ClientInfo, IssuedTokens, Sessions } from "./sessions";

export interface PasswordChange {
  currentPassword: string;
  newPassword: string;
}

export interface Credentials {
  email: string;
  password: string;
}

/** Registration and sign-in: the password rules meet sessions here. */
export class Accounts {
  constructor(
    private readonly hasher: PasswordHasher,
    private readonly sessions: Sessions,
    private readonly throttle: LoginThrottle,
    private readonly passwordMinLength: number,
    private readonly clock: Clock,
    private readonly events: AuthEventSink,
  ) {}

  async register(em: EntityManager, input: Credentials, client: ClientInfo): Promise<IssuedTokens> {
    const email = parseNewEmail(input.email);
    const password = normalizePassword(input.password);
    assertAcceptablePassword(password, email, this.passwordMinLength, "password");
    // Saves an argon2 hash for the common case; the unique index below decides races.
    if ((await em.count(User, { email })) > 0) {
      this.events({ event: "register", outcome: "failure", reason: "EMAIL_TAKEN", ip: client.ip });
      throw emailTaken();
    }

    const passwordHash = await this.hasher.hash(password);
    let issued: IssuedTokens;
    try {
      // One transaction: the user and its first session.
      issued = await transaction(em, async (tx) => {
        const now = this.clock.now();
        const user = tx.create(User, { email, passwordHash, createdAt: now, updatedAt: now });
        await tx.flush();
        return this.sessions.start(tx, user, client);
      });
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw emailTaken();
      throw error;
    }
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
   * unknown email still costs one argon2 verification.
   */
  async login(em: EntityManager, input: Credentials, client: ClientInfo): Promise<IssuedTokens> {
    const email = normalizeEmail(input.email);
    const password = normalizePassword(input.password);
    try {
      await this.throttle.assertAllowed(em, email, client.ip);
    } catch (error) {
      this.events({ event: "login_throttled", outcome: "failure", ip: client.ip });
      throw error;
    }
    const fail = async (reason: string, userId?: string) => {
      await this.throttle.recordFailure(em, email, client.ip);
      this.events({ event: "login", outcome: "failure", reason, userId, ip: client.ip });
      return invalidCredentials();
    };
    // No account can have such a password, and hashing megabytes is a DoS lever.
    if (codePointLength(password) > MAX_PASSWORD_LENGTH) throw await fail("PASSWORD_TOO_LONG");

    const user = isValidEmail(email) ? await em.findOne(User, { email }) : null;
    if (user === null) {
      await this.hasher.verifyDummy(password);
      throw await fail("UNKNOWN_EMAIL");
    }
    if (!(await this.hasher.verify(user.passwordHash, password))) throw await fail("WRONG_PASSWORD", user.id);

    // Cost parameters raised since this hash was made: upgrade it now, while we have the password.
    const rehashed = this.hasher.needsRehash(user.passwordHash) ? await this.hasher.hash(password) : null;
    const issued = await transaction(em, async (tx) => {
      if (rehashed !== null) await tx.nativeUpdate(User, { id: user.id }, { passwordHash: rehashed });
      return this.sessions.start(tx, user, client);
    });
    await this.throttle.reset(em, email, client.ip);
    this.events({ event: "login", outcome: "success", userId: user.id, sessionId: issued.sessionId, ip: client.ip });
    return issued;
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
    // The per-request check never reads the hash; this is the one operation that needs it.
    const { passwordHash: storedHash } = await em.findOneOrFail(User, user.id, { fields: ["passwordHash"] });
    const current = normalizePassword(input.currentPassword);
    if (codePointLength(current) > MAX_PASSWORD_LENGTH || !(await this.hasher.verify(storedHash, current))) {
      this.events({
        event: "password_changed",
        outcome: "failure",
        reason: "WRONG_PASSWORD",
        userId: user.id,
        ip: client.ip,
      });
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
      return kept;
    });
    this.events({
      event: "password_changed",
      outcome: "success",
      userId: user.id,
      sessionId: session.id,
      ip: client.ip,
    });
    return issued;
  }
}

import { type EntityManager, UniqueConstraintViolationException } from "@mikro-orm/core";
import { Session, User } from "../db/entities";
import { emailTaken, invalidCredentials } from "../errors";
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

    const user = em.create(User, { email, passwordHash: await this.hasher.hash(password) });
    const issued = this.sessions.start(em, user, client);
    try {
      await em.flush(); // one transaction: the user, its session and its first refresh token
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw emailTaken();
      throw error;
    }
    this.events({
      event: "register",
      outcome: "success",
      userId: user.id,
      sessionId: issued.session.id,
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
    if (this.hasher.needsRehash(user.passwordHash)) user.passwordHash = await this.hasher.hash(password);
    const issued = this.sessions.start(em, user, client);
    await em.flush();
    await this.throttle.reset(em, email, client.ip);
    this.events({ event: "login", outcome: "success", userId: user.id, sessionId: issued.session.id, ip: client.ip });
    return issued;
  }

  /**
   * Needs the current password (ASVS 6.2.3). The new one must pass the policy;
   * every other session ends (ASVS 7.4.3: whoever else signed in with the old
   * password is out) and the current session gets fresh tokens.
   */
  async changePassword(
    em: EntityManager,
    session: Session,
    input: PasswordChange,
    client: ClientInfo,
  ): Promise<IssuedTokens> {
    const user = session.user;
    const current = normalizePassword(input.currentPassword);
    if (codePointLength(current) > MAX_PASSWORD_LENGTH || !(await this.hasher.verify(user.passwordHash, current))) {
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
    const issued = await em.transactional(async (tx) => {
      const current = await tx.findOneOrFail(Session, session.id, { populate: ["user"] });
      current.user.passwordHash = passwordHash;
      await this.sessions.endAll(tx, user.id, "PASSWORD_CHANGED", { except: session.id });
      return this.sessions.reissue(tx, current);
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

import { AccessTokens } from "./auth/access-tokens";
import { Accounts } from "./auth/accounts";
import { type AuthEventSink, ignoreEvents } from "./auth/events";
import { LoginThrottle } from "./auth/login-throttle";
import { PasswordHasher } from "./auth/passwords";
import { RateLimiter } from "./auth/rate-limiter";
import { RefreshTokenProofs } from "./auth/refresh-tokens";
import { Roles } from "./auth/roles";
import { SessionAdministration } from "./auth/session-administration";
import { Sessions } from "./auth/sessions";
import { type Clock, systemClock } from "./clock";
import type { Config, OperatorConfig, OperatorMailConfig } from "./config";
import type { SqliteReads } from "./db/sqlite-reads";
import type { SqliteWriteGroups } from "./db/sqlite-write-groups";
import { EmailTokenStore } from "./db/stores/email-token-store";
import { LoginAttemptStore } from "./db/stores/login-attempt-store";
import { MfaChallengeStore } from "./db/stores/mfa-challenge-store";
import { OAuthStore } from "./db/stores/oauth-store";
import { OutboxStore } from "./db/stores/outbox-store";
import { PasskeyStore } from "./db/stores/passkey-store";
import { RateLimitStore } from "./db/stores/rate-limit-store";
import { RecoveryCodeStore } from "./db/stores/recovery-code-store";
import { SessionStore } from "./db/stores/session-store";
import { TotpStore } from "./db/stores/totp-store";
import { UserStore } from "./db/stores/user-store";
import { WebAuthnChallengeStore } from "./db/stores/webauthn-challenge-store";
import { DeferredWork } from "./email/deferred-work";
import { EmailAccounts } from "./email/email-accounts";
import { EmailTokens } from "./email/email-tokens";
import { ignoreMailEvents, type MailEventSink } from "./mail/events";
import { domainOf, MailOutbox } from "./mail/outbox";
import { PayloadCipher } from "./mail/payload-cipher";
import { MailTemplates } from "./mail/templates";
import { SMTP_MAX_CONNECTIONS, transportOf } from "./mail/transports";
import { MailWorker } from "./mail/worker";
import {
  AUTH_RATE_WINDOW_SECONDS,
  createMaintenance,
  MAIL_REQUEST_WINDOW_SECONDS,
  type Maintenance,
} from "./maintenance/maintenance";
import { MfaChallenges } from "./mfa/mfa-challenges";
import { MfaSignIn } from "./mfa/mfa-sign-in";
import { passkeySource } from "./mfa/passkey-source";
import type { PasskeyVerifier } from "./mfa/passkey-verifier";
import { Passkeys } from "./mfa/passkeys";
import { Reauthentication } from "./mfa/reauthentication";
import { SecondFactorReset } from "./mfa/second-factor-reset";
import { SecondFactors } from "./mfa/second-factors";
import { TotpAuthenticator } from "./mfa/totp-authenticator";
import { TotpSecretCipher } from "./mfa/totp-secret-cipher";
import { recoveryCodeSource, totpSource } from "./mfa/totp-sources";
import { Notes } from "./notes/notes";
import { identityProviderOf } from "./oauth/identity-providers";
import { OAuthAccounts } from "./oauth/oauth-accounts";
import { OAuthFlows } from "./oauth/oauth-flows";

/** The domain services, built once per process and shared by the API and the operator CLI. */
export interface Services {
  clock: Clock;
  accessTokens: AccessTokens;
  accounts: Accounts;
  sessions: Sessions;
  roles: Roles;
  notes: Notes;
  loginThrottle: LoginThrottle;
  /** AUTH_RATE_LIMIT_PER_MINUTE for register, login, refreshToken and changePassword, per client address. */
  authRateLimiter: RateLimiter;
  /** Deletes dead sessions, old login failures and past rate windows (a timer in the server; `prune` in the CLI). */
  maintenance: Maintenance;
  /** argon2id with a bounded queue (its depth is a metric). */
  passwordHasher: PasswordHasher;
  /** The mail outbox: the domain queues mail in its transactions (`enqueue`), then `wake`s the worker. */
  mail: MailOutbox;
  /** Sends the outbox (the server starts and stops it); null with MAIL_TRANSPORT=none. */
  mailWorker: MailWorker | null;
  /** Verification, reset, email change and sign-in by mail (BEHAVIOUR.md §7). */
  email: EmailAccounts;
  /** REQUIRE_EMAIL_VERIFICATION: the auth checker lets an unverified user do only a few things. */
  requireEmailVerification: boolean;
  /** Passkeys: registration, the list, removal, passwordless sign-in, and assertions for other flows (BEHAVIOUR.md §8). */
  passkeys: Passkeys;
  /** Which second factors a user has: the sources (TOTP, recovery codes; passkeys register theirs). */
  secondFactors: SecondFactors;
  /** Sign-ins waiting for their second factor (MFA_REQUIRED): find, complete, countWrong. */
  mfaChallenges: MfaChallenges;
  /** Authenticator apps and recovery codes (BEHAVIOUR.md §8). */
  totp: TotpAuthenticator;
  /** `verifyMfa`. */
  mfaSignIn: MfaSignIn;
  /** `reauthenticate`. */
  reauthentication: Reauthentication;
  /** Sign-in with identity providers and linked identities (BEHAVIOUR.md §9). */
  oauth: OAuthAccounts;
}

/** What the operator CLI uses: built from the database and the lifetimes alone, no key (it signs nothing). */
export interface OperatorServices {
  clock: Clock;
  roles: Roles;
  sessions: SessionAdministration;
  maintenance: Maintenance;
  /** `reset-mfa`: removes a user's second factors and queues the notice (needs the server's SECRET_KEYS to seal it). */
  secondFactorReset(mail: OperatorMailConfig): SecondFactorReset;
}

export interface ServiceOptions {
  events?: AuthEventSink;
  /** SQLite: the read connection of the per-request session check (the server opens and closes it). */
  sqliteReads?: SqliteReads;
  /** SQLite: rotations committed in groups (`db/sqlite-write-groups.ts`). */
  sqliteWriteGroups?: SqliteWriteGroups;
  /** What the mail worker reports (sent, retried, failed). */
  mailEvents?: MailEventSink;
  /** Tests pass a clock they can move. */
  clock?: Clock;
}

/** Expensive set-up done once per process: keys, argon2 dummy hash. */
export async function createServices(
  config: Config,
  {
    events = ignoreEvents,
    mailEvents = ignoreMailEvents,
    clock = systemClock,
    sqliteReads,
    sqliteWriteGroups,
  }: ServiceOptions = {},
): Promise<Services> {
  const accessTokens = new AccessTokens({
    keys: config.jwt.keys,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    ttlSeconds: config.jwt.accessTokenTtl,
    clock,
  });
  const sessions = new Sessions(
    new SessionStore(config.database.kind, sqliteReads ?? null, sqliteWriteGroups ?? null),
    new RefreshTokenProofs(config.secretKeys),
    accessTokens,
    {
      refreshTokenTtl: config.refreshTokenTtl,
      sessionMaxAge: config.sessionMaxAge,
      reuseGrace: config.refreshReuseGrace,
    },
    clock,
    events,
  );
  const hasher = await PasswordHasher.create(config.argon2, config.hashing);
  const loginThrottle = new LoginThrottle(
    config.loginThrottle,
    new LoginAttemptStore(config.database.kind),
    config.secretKeys,
    clock,
  );
  const mail = createMail(config, clock, mailEvents);
  const users = new UserStore(config.database.kind);
  const totp = new TotpAuthenticator(
    new TotpStore(),
    new RecoveryCodeStore(),
    new TotpSecretCipher(config.secretKeys),
    mail.mail,
    loginThrottle,
    { issuer: config.mfa.totpIssuer, reauthMaxAge: config.email.reauthMaxAge },
    clock,
    events,
  );
  const secondFactors = secondFactorSources();
  const mfaChallenges = new MfaChallenges(
    new MfaChallengeStore(config.database.kind),
    secondFactors,
    sessions,
    users,
    clock,
  );
  // Passkeys prove a second step (verifyMfa) or a renewed sign-in (reauthenticate) too.
  const passkeys = new Passkeys(
    new PasskeyStore(),
    new WebAuthnChallengeStore(config.database.kind),
    users,
    sessions,
    mail.mail,
    { ...config.webauthn, reauthMaxAge: config.email.reauthMaxAge },
    clock,
    events,
  );
  const passkeyVerifier: PasskeyVerifier = passkeys;
  const rateLimits = new RateLimitStore(config.database.kind);
  const oauthStore = new OAuthStore(config.database.kind);
  const email = new EmailAccounts(
    mail.mail,
    new EmailTokens(new EmailTokenStore(config.database.kind), config.secretKeys, config.email.tokenTtl, clock),
    users,
    sessions,
    hasher,
    loginThrottle,
    mfaChallenges,
    new DeferredWork((error) =>
      events({ event: "email_request_failed", outcome: "failure", reason: errorName(error) }),
    ),
    {
      appUrl: config.appUrl,
      passwordMinLength: config.passwordMinLength,
      requestsPerEmail: new RateLimiter(
        rateLimits,
        config.email.requestsPerEmailPerHour,
        MAIL_REQUEST_WINDOW_SECONDS,
        clock,
      ),
      reauthMaxAge: config.email.reauthMaxAge,
      providerLinks: oauthStore,
    },
    clock,
    events,
  );
  const oauth = new OAuthAccounts(
    config.oauth.providers.map(identityProviderOf),
    oauthStore,
    new OAuthFlows(oauthStore, config.secretKeys, clock),
    users,
    sessions,
    mfaChallenges,
    email,
    mail.mail,
    {
      redirectUris: config.oauth.redirectUris,
      allowSignUp: config.oauth.allowSignUp,
      reauthMaxAge: config.email.reauthMaxAge,
    },
    clock,
    events,
  );
  const accounts = new Accounts(
    hasher,
    users,
    sessions,
    loginThrottle,
    email,
    mfaChallenges,
    config.passwordMinLength,
    clock,
    events,
  );
  return {
    clock,
    accessTokens,
    sessions,
    accounts,
    roles: new Roles(users, clock),
    notes: new Notes(),
    loginThrottle,
    authRateLimiter: new RateLimiter(rateLimits, config.authRateLimitPerMinute, AUTH_RATE_WINDOW_SECONDS, clock),
    maintenance: createMaintenance(config, clock),
    passwordHasher: hasher,
    ...mail,
    email,
    requireEmailVerification: config.email.requireVerification,
    passkeys,
    secondFactors,
    mfaChallenges,
    totp,
    mfaSignIn: new MfaSignIn(mfaChallenges, totp, users, loginThrottle, passkeyVerifier, events),
    reauthentication: new Reauthentication(accounts, totp, sessions, loginThrottle, passkeyVerifier, events),
    oauth,
  };
}

/**
 * The one list of second-factor kinds (BEHAVIOUR.md §8): what MFA_REQUIRED
 * offers, what `User.secondFactors` shows and what `reset-mfa` removes, for
 * the server and the CLI alike. Sources need no key (they look and delete).
 */
function secondFactorSources(): SecondFactors {
  return new SecondFactors([
    totpSource(new TotpStore()),
    passkeySource(new PasskeyStore()),
    recoveryCodeSource(new RecoveryCodeStore()),
  ]);
}
/** The kind of an unexpected error, for an event: never its message, which may quote a value. */
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/**
 * The outbox and its worker. The templates are read and checked here, once:
 * a missing file or an unknown placeholder stops the start naming the file.
 */
function createMail(config: Config, clock: Clock, events: MailEventSink): Pick<Services, "mail" | "mailWorker"> {
  const store = new OutboxStore(config.database.kind);
  const cipher = new PayloadCipher(config.secretKeys);
  const transport = transportOf(config.mail);
  const worker =
    transport === null
      ? null
      : new MailWorker({
          store,
          cipher,
          templates: MailTemplates.load(config.mail.templatesDir),
          transport,
          clock,
          events,
          from: config.mail.from,
          common: { productName: config.mail.productName, appUrl: config.appUrl },
          pollIntervalMs: config.mail.pollInterval * 1000,
          concurrency: SMTP_MAX_CONNECTIONS,
        });
  const mail = new MailOutbox({
    enabled: worker !== null,
    store,
    cipher,
    clock,
    messageIdDomain: domainOf(config.mail.from),
    worker,
  });
  return { mail, mailWorker: worker };
}

export function createOperatorServices(config: OperatorConfig, clock: Clock = systemClock): OperatorServices {
  const users = new UserStore(config.database.kind);
  return {
    clock,
    roles: new Roles(users, clock),
    sessions: new SessionAdministration(new SessionStore(config.database.kind), clock),
    maintenance: createMaintenance(config, clock),
    secondFactorReset: (mail) =>
      new SecondFactorReset(
        secondFactorSources(),
        users,
        // No worker in the CLI: the server's sends what this queues.
        new MailOutbox({
          enabled: mail.mailEnabled,
          store: new OutboxStore(config.database.kind),
          cipher: new PayloadCipher(mail.secretKeys),
          clock,
          messageIdDomain: domainOf(mail.from),
          worker: null,
        }),
      ),
  };
}

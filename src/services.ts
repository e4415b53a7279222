import { AccessTokens } from "./auth/access-tokens";
import { Accounts } from "./auth/accounts";
import { type AuthEventSink, ignoreEvents } from "./auth/events";
import { LoginThrottle } from "./auth/login-throttle";
import { PasswordHasher } from "./auth/passwords";
import { RateLimiter } from "./auth/rate-limiter";
import { Roles } from "./auth/roles";
import { Sessions } from "./auth/sessions";
import type { Config } from "./config";
import { Notes } from "./notes/notes";

/** The domain services, built once per process and shared by the API and the operator CLI. */
export interface Services {
  accessTokens: AccessTokens;
  accounts: Accounts;
  sessions: Sessions;
  roles: Roles;
  notes: Notes;
  loginThrottle: LoginThrottle;
  /** AUTH_RATE_LIMIT_PER_MINUTE for register, login, refreshToken and changePassword, per client address. */
  authRateLimiter: RateLimiter;
}

/** Expensive set-up done once per process: keys, argon2 dummy hash. */
export async function createServices(config: Config, events: AuthEventSink = ignoreEvents): Promise<Services> {
  const accessTokens = new AccessTokens({
    keys: config.jwt.keys,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    ttlSeconds: config.jwt.accessTokenTtl,
  });
  const sessions = new Sessions(
    accessTokens,
    {
      refreshTokenTtl: config.refreshTokenTtl,
      sessionMaxAge: config.sessionMaxAge,
      reuseGrace: config.refreshReuseGrace,
      lockRows: config.database.kind === "postgres",
    },
    events,
  );
  const hasher = await PasswordHasher.create(config.argon2, config.hashing);
  const loginThrottle = new LoginThrottle(config.loginThrottle);
  return {
    accessTokens,
    sessions,
    accounts: new Accounts(hasher, sessions, loginThrottle, config.passwordMinLength, events),
    roles: new Roles(),
    notes: new Notes(),
    loginThrottle,
    authRateLimiter: new RateLimiter(config.authRateLimitPerMinute, 60),
  };
}

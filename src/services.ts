import { AccessTokens } from "./auth/access-tokens";
import { Accounts } from "./auth/accounts";
import { PasswordHasher } from "./auth/passwords";
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
}

/** Expensive set-up done once per process: keys, argon2 dummy hash. */
export async function createServices(config: Config): Promise<Services> {
  const accessTokens = new AccessTokens({
    secret: config.jwt.secret,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    ttlSeconds: config.jwt.accessTokenTtl,
  });
  const sessions = new Sessions(accessTokens, {
    refreshTokenTtl: config.refreshTokenTtl,
    sessionMaxAge: config.sessionMaxAge,
    reuseGrace: config.refreshReuseGrace,
  });
  const hasher = await PasswordHasher.create(config.argon2);
  return {
    accessTokens,
    sessions,
    accounts: new Accounts(hasher, sessions, config.passwordMinLength),
    roles: new Roles(),
    notes: new Notes(),
  };
}

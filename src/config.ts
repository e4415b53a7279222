import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { z } from "zod";
import { SecretKeys } from "./auth/secret-keys";
import { type AsymmetricAlgorithm, SigningKeys, splitPemKeys } from "./auth/signing-keys";
import { type OAuthConfig, OAuthConfigError, oauthConfig } from "./config-oauth";

/**
 * The only reader of `process.env`. Everything else receives a `Config`.
 * Values are validated once, at start; an invalid one stops the start with a
 * message that names the variable (and never echoes a secret's value).
 * Loading is pure: it reads the environment and writes nothing. Generated
 * development keys come from a `DevelopmentKeys` source that only the
 * server's start passes in (src/development-keys.ts).
 */
export interface Config {
  production: boolean;
  host: string;
  port: number;
  database: DatabaseConfig;
  jwt: {
    /** HS256 secret, or ES256/RS256 private keys (first signs, all verify). */
    keys: SigningKeys;
    issuer: string;
    audience: string;
    /** Seconds. */
    accessTokenTtl: number;
  };
  /** SECRET_KEYS: the first protects new data, all are accepted; purpose keys are derived from them. */
  secretKeys: SecretKeys;
  /** Idle lifetime of a session's refresh token, seconds (≥ the access token's). */
  refreshTokenTtl: number;
  /** Absolute lifetime of a session, seconds. */
  sessionMaxAge: number;
  /** Seconds a just-rotated refresh token may be presented again. */
  refreshReuseGrace: number;
  /** Where refresh tokens travel: the response body, an HttpOnly cookie, or both. */
  refreshTokenTransport: "body" | "cookie" | "both";
  passwordMinLength: number;
  argon2: Argon2Cost;
  hashing: HashingLimits;
  loginThrottle: { maxFailures: number; windowSeconds: number };
  /** register + login + refreshToken + changePassword per client address per minute. */
  authRateLimitPerMinute: number;
  /** Origins allowed to call the API from a browser; empty: no cross-origin access. */
  corsOrigins: string[];
  introspection: boolean;
  /**
   * Which X-Forwarded-For hops to believe: false (none), a hop count, or the
   * proxies' addresses/CIDRs (`true` becomes LOCAL_PROXY_RANGES). Never "all":
   * the left-most entry is whatever the client wrote.
   */
  trustProxy: false | number | string[];
  logLevel: LogLevel;
  /** Seconds a graceful stop may take before the process exits 1 anyway. */
  shutdownTimeoutSeconds: number;
  /** MAINTENANCE_INTERVAL: seconds between automatic clean-ups of dead rows; 0: off (use `npm run cli -- prune`). */
  maintenanceInterval: number;
  /** METRICS_PORT: Prometheus metrics on 127.0.0.1 at this port; null: off. */
  metricsPort: number | null;
  /** APP_URL: the frontend's base URL, without a trailing slash; links in mails point there. */
  appUrl: string;
  mail: MailConfig;
  email: EmailPolicy;
  webauthn: WebAuthnConfig;
  mfa: MfaPolicy;
  /** Sign-in with identity providers (BEHAVIOUR.md §9); no providers: the capability is off. */
  oauth: OAuthConfig;
}

/** Passkeys (BEHAVIOUR.md §8; README "Second factors and passkeys"). */
export interface WebAuthnConfig {
  /** WEBAUTHN_RP_ID: the domain passkeys are bound to; each origin's host is it or a subdomain of it. */
  rpId: string;
  /** WEBAUTHN_RP_NAME: shown by the browser or the authenticator when a passkey is made. */
  rpName: string;
  /** WEBAUTHN_ORIGINS: the exact origins (scheme, host, port) a ceremony may come from. */
  origins: string[];
}

/** BEHAVIOUR.md §8: second factors. */
export interface MfaPolicy {
  /** TOTP_ISSUER (default MAIL_PRODUCT_NAME): the name authenticator apps show next to the account. */
  totpIssuer: string;
}

/** How mail leaves the server (BEHAVIOUR.md §7; README "Mail"). */
export interface MailConfig {
  /** MAIL_TRANSPORT: SMTP, `.eml` files (development), or no mail at all. */
  transport: "smtp" | "file" | "none";
  /** SMTP_URL (holds the SMTP password: never logged); null unless the transport is smtp. */
  smtpUrl: string | null;
  /** MAIL_FROM: `address` or `Name <address>`. */
  from: string;
  /** MAIL_TEMPLATES_DIR, absolute: the shipped templates/mail unless an operator's copy. */
  templatesDir: string;
  /** MAIL_PRODUCT_NAME: `{{productName}}` in every template. */
  productName: string;
  /** MAIL_POLL_INTERVAL: seconds between looks at the outbox when nothing woke the worker. */
  pollInterval: number;
  /** MAIL_FILE_DIR, absolute: where the file transport writes. */
  fileDir: string;
}

/** BEHAVIOUR.md §7 and §8's recent sign-in. */
export interface EmailPolicy {
  /** REQUIRE_EMAIL_VERIFICATION: an unverified user may use only a few operations. */
  requireVerification: boolean;
  /** REAUTH_MAX_AGE: seconds a sign-in counts as recent for sensitive operations. */
  reauthMaxAge: number;
  /** Lifetime of each kind of mailed token, seconds. */
  tokenTtl: Record<"verify-email" | "reset-password" | "email-change" | "sign-in", number>;
  /** EMAIL_REQUESTS_PER_HOUR: reset or sign-in mails asked for one email, per hour (whoever asks). */
  requestsPerEmailPerHour: number;
}

/**
 * What the operator CLI needs: the database, and the lifetimes that say which
 * rows are dead (`prune`). No keys: it signs and decrypts nothing.
 */
export type OperatorConfig = Pick<Config, "database" | "refreshTokenTtl" | "loginThrottle">;

/**
 * Where a development server keeps the keys it generated, so they survive a
 * restart. Outside production, `loadConfig` asks it for each key variable
 * that is not set; without one, a missing key is an error as in production.
 */
export interface DevelopmentKeys {
  /** A random secret of at least 32 bytes, the same on every call for `name`; `keptIn` says where. */
  secret(name: "jwt-secret" | "secret-keys"): { secret: Buffer; keptIn: string };
  /** A private key (PEM) for `algorithm`, the same on every call. */
  privateKey(algorithm: AsymmetricAlgorithm): { pem: string; keptIn: string };
}

export type DatabaseConfig = { kind: "sqlite"; path: string } | { kind: "postgres"; url: string };
export interface Argon2Cost {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}
export interface HashingLimits {
  /** argon2 operations running at once; each holds memoryCost KiB and a libuv thread. */
  maxConcurrent: number;
  /** Operations waiting for a slot; beyond it register/login answer RATE_LIMITED. */
  maxQueued: number;
}
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The development frontend (Vite's default port), when APP_URL is not set outside production. */
export const DEFAULT_APP_URL = "http://localhost:5173";
/** `address` or `Display Name <address>`: what an SMTP server takes as a From header. */
const MAIL_FROM_FORMAT = /^(?:[^<>\r\n]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/;
/**
 * The templates shipped with the server (templates/mail at the repository's
 * root), whether this module runs as TypeScript (src/) or built (dist/src/).
 */
export const SHIPPED_TEMPLATES_DIR = resolve(
  __dirname,
  __filename.endsWith(".ts") ? ".." : "../..",
  "templates",
  "mail",
);

/** OWASP Password Storage Cheat Sheet, argon2id minimum (m=19 MiB, t=2, p=1). */
const OWASP_ARGON2_MIN = { memoryCost: 19456, timeCost: 2 };
/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
const MIN_SECRET_BYTES = 32;
/** Apollo's hosted Sandbox (and Explorer). */
export const APOLLO_STUDIO_ORIGIN = "https://studio.apollographql.com";

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d+$/, `must be a whole number between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
const bool = z.enum(["true", "false", "1", "0"], "must be true or false").transform((v) => v === "true" || v === "1");

/** A comma-separated list, each entry trimmed, empty entries dropped. */
const commaList = z.string().transform((v) =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
);

const envSchema = z.object({
  NODE_ENV: z.string().optional(),
  HOST: z.string().default("127.0.0.1"),
  PORT: int(0, 65535).default(4000),
  DATABASE_URL: z.string().default("sqlite:./data/auth.sqlite"),
  JWT_SECRET: z.string().optional(),
  JWT_ALGORITHM: z.enum(["HS256", "ES256", "RS256", "EdDSA"], "must be HS256, ES256, RS256 or EdDSA").default("HS256"),
  JWT_PRIVATE_KEYS: z.string().optional(),
  SECRET_KEYS: z.string().optional(),
  JWT_ISSUER: z.string().min(1).default("auth-server"),
  JWT_AUDIENCE: z.string().min(1).default("auth-server"),
  ACCESS_TOKEN_TTL: int(1, 86400).default(900),
  REFRESH_TOKEN_TTL: int(1).default(1209600),
  SESSION_MAX_AGE: int(1).default(2592000),
  REFRESH_REUSE_GRACE: int(0, 3600).default(30),
  REFRESH_TOKEN_TRANSPORT: z.enum(["body", "cookie", "both"], "must be body, cookie or both").default("body"),
  PASSWORD_MIN_LENGTH: int(8, 256).default(15),
  ARGON2_MEMORY_KIB: int(1024, 4 * 1024 * 1024).default(OWASP_ARGON2_MIN.memoryCost),
  ARGON2_TIME_COST: int(1, 100).default(OWASP_ARGON2_MIN.timeCost),
  ARGON2_PARALLELISM: int(1, 64).default(1),
  LOGIN_MAX_FAILURES: int(1, 1000).default(5),
  LOGIN_LOCKOUT_SECONDS: int(1, 86400).default(900),
  AUTH_RATE_LIMIT_PER_MINUTE: int(1, 1_000_000_000).default(30),
  CORS_ORIGINS: commaList
    .pipe(
      z.array(z.url({ protocol: /^https?$/, error: "must be comma-separated origins like https://app.example.com" })),
    )
    .optional(),
  HASH_MAX_CONCURRENT: int(1, 256).optional(),
  HASH_MAX_QUEUED: int(0, 100_000).default(100),
  UV_THREADPOOL_SIZE: int(1, 1024).default(4),
  GRAPHQL_INTROSPECTION: bool.optional(),
  TRUST_PROXY: z
    .string()
    .regex(
      /^(true|false|\d{1,2}|[0-9a-fA-F.:/]+(,\s*[0-9a-fA-F.:/]+)*)$/,
      "must be true, false, a hop count or proxy addresses",
    )
    .default("false")
    .transform(parseTrustProxy)
    .refine(
      (value) => !Array.isArray(value) || value.every(isAddressOrCidr),
      "each proxy must be an IP address or a CIDR range such as 10.0.0.0/8",
    ),
  LOG_LEVEL: z.enum(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(", ")}`).default("info"),
  SHUTDOWN_TIMEOUT: int(1, 3600).default(10),
  MAINTENANCE_INTERVAL: int(0, 86400).default(60),
  // 0 takes any free port (tests); the address is logged at start.
  METRICS_PORT: int(0, 65535).optional(),
  APP_URL: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL such as https://app.example.com" })
    .refine((v) => {
      // Not a URL at all is the check above's to report.
      if (!URL.canParse(v)) return true;
      const url = new URL(v);
      return url.search === "" && url.hash === "" && url.username === "" && url.password === "";
    }, "must be a base URL without query, fragment or credentials, such as https://app.example.com or https://example.com/app")
    .optional(),
  MAIL_TRANSPORT: z.enum(["smtp", "file", "none"], "must be smtp, file or none").optional(),
  SMTP_URL: z
    .string()
    // Never echoed: it holds the SMTP password.
    .refine(
      isSmtpUrl,
      "must be smtp://user:pass@host:587 or smtps://user:pass@host:465 (user and password percent-encoded)",
    )
    .optional(),
  MAIL_FROM: z
    .string()
    .regex(MAIL_FROM_FORMAT, 'must be an address or "Name <address>", e.g. Example <no-reply@example.com>')
    .optional(),
  MAIL_TEMPLATES_DIR: z.string().optional(),
  MAIL_PRODUCT_NAME: z
    .string()
    .max(100, "must be at most 100 characters")
    .regex(/^[^\r\n{}<>]+$/, "must be one line without {, }, < or >")
    .default("Auth server"),
  MAIL_POLL_INTERVAL: z
    .string()
    .regex(/^\d+(\.\d+)?$/, "must be a number of seconds, e.g. 5 or 0.5")
    .transform(Number)
    .pipe(z.number().min(0.01, "must be at least 0.01").max(3600, "must be at most 3600"))
    .default(5),
  MAIL_FILE_DIR: z.string().default("./data/mail"),
  // The otpauth URI's label is ISSUER:ACCOUNT: a colon in the issuer would split it wrongly.
  TOTP_ISSUER: z
    .string()
    .max(100, "must be at most 100 characters")
    .regex(/^[^\r\n:]+$/, "must be one line without a colon")
    .optional(),
  REQUIRE_EMAIL_VERIFICATION: bool.default(false),
  REAUTH_MAX_AGE: int(1, 86400).default(300),
  EMAIL_VERIFICATION_TTL: int(60, 30 * 86400).default(86400),
  PASSWORD_RESET_TTL: int(60, 86400).default(1800),
  EMAIL_CHANGE_TTL: int(60, 7 * 86400).default(3600),
  EMAIL_SIGN_IN_TTL: int(60, 3600).default(600),
  EMAIL_REQUESTS_PER_HOUR: int(1, 1000).default(5),
  WEBAUTHN_RP_ID: z
    .string()
    .regex(
      /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/,
      "must be a lower-case domain without scheme or port, such as example.com",
    )
    .optional(),
  WEBAUTHN_RP_NAME: z
    .string()
    .max(100, "must be at most 100 characters")
    .regex(/^[^\r\n]+$/, "must be one line")
    .optional(),
  WEBAUTHN_ORIGINS: commaList
    .pipe(
      z
        .array(
          z
            .url({ protocol: /^https?$/, error: "must be comma-separated origins like https://app.example.com" })
            .refine(
              isBareOrigin,
              "each must be an origin (scheme, host, port) without a path, like https://example.com",
            ),
        )
        .min(1, "must name at least one origin"),
    )
    .optional(),
});

/** What `reset-mfa` reads besides: it queues a notice mail, sealed like the server seals it. */
const operatorMailEnvSchema = envSchema.pick({
  SECRET_KEYS: true,
  MAIL_TRANSPORT: true,
  MAIL_FROM: true,
  APP_URL: true,
});

/** The variables the operator CLI reads; anything else in the environment is not its business. */
const operatorEnvSchema = envSchema.pick({
  DATABASE_URL: true,
  REFRESH_TOKEN_TTL: true,
  LOGIN_MAX_FAILURES: true,
  LOGIN_LOCKOUT_SECONDS: true,
});

export interface LoadedConfig {
  config: Config;
  /** Things an operator should hear about once the logger exists. */
  warnings: string[];
}

/**
 * Reads and validates the environment; writes nothing. Outside production a
 * missing key is taken from `developmentKeys` (the server's start passes one
 * that generates them once under ./data, so tokens survive restarts of a
 * development server); without it a missing key stops the start as in
 * production.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, developmentKeys?: DevelopmentKeys): LoadedConfig {
  const e = parse(envSchema, env);
  const production = e.NODE_ENV === "production";
  const warnings: string[] = [];
  const devKeys = production ? undefined : developmentKeys;

  if (e.JWT_ALGORITHM === "EdDSA") {
    throw new ConfigError("JWT_ALGORITHM: EdDSA is not available (jsonwebtoken 9 cannot sign it); use ES256 or RS256");
  }
  if (
    production &&
    (e.ARGON2_MEMORY_KIB < OWASP_ARGON2_MIN.memoryCost || e.ARGON2_TIME_COST < OWASP_ARGON2_MIN.timeCost)
  ) {
    throw new ConfigError(
      `ARGON2_MEMORY_KIB / ARGON2_TIME_COST: below the OWASP minimum (${OWASP_ARGON2_MIN.memoryCost} KiB, t=${OWASP_ARGON2_MIN.timeCost}); refused in production`,
    );
  }

  if (e.REFRESH_TOKEN_TTL < e.ACCESS_TOKEN_TTL) {
    // Otherwise a session's access token would outlive its refresh token, and
    // "is this session still usable" would have two answers.
    throw new ConfigError(
      `REFRESH_TOKEN_TTL: must be at least ACCESS_TOKEN_TTL (${e.ACCESS_TOKEN_TTL}); got ${e.REFRESH_TOKEN_TTL}`,
    );
  }
  const database = parseDatabaseUrl(e.DATABASE_URL);
  if (e.MAIL_TRANSPORT === "smtp" && e.SMTP_URL === undefined) {
    throw new ConfigError("SMTP_URL: missing; MAIL_TRANSPORT=smtp needs smtp://user:pass@host:587 or smtps://…");
  }

  // Keys last: a development key is generated only once everything else is valid.
  const keys =
    e.JWT_ALGORITHM === "HS256"
      ? SigningKeys.hmac(hmacSecret(e.JWT_SECRET, devKeys, warnings))
      : asymmetricKeys(e.JWT_ALGORITHM, e.JWT_PRIVATE_KEYS, devKeys, warnings);
  const secrets = secretKeys(e.SECRET_KEYS, devKeys, warnings);
  // What production alone requires of mail, after the keys: an operator hears first about what every start needs.
  const mail = mailConfig(e, production);
  const appUrl = appUrlOf(e.APP_URL, production, mail.transport !== "none");
  const webauthn = webauthnConfig(e, appUrl, warnings);
  const oauth = oauthOf(env, production);

  return {
    warnings,
    config: {
      production,
      host: e.HOST,
      port: e.PORT,
      database,
      jwt: {
        keys,
        issuer: e.JWT_ISSUER,
        audience: e.JWT_AUDIENCE,
        accessTokenTtl: e.ACCESS_TOKEN_TTL,
      },
      secretKeys: secrets,
      refreshTokenTtl: e.REFRESH_TOKEN_TTL,
      sessionMaxAge: e.SESSION_MAX_AGE,
      refreshReuseGrace: e.REFRESH_REUSE_GRACE,
      refreshTokenTransport: e.REFRESH_TOKEN_TRANSPORT,
      passwordMinLength: e.PASSWORD_MIN_LENGTH,
      argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM },
      hashing: {
        // One more hash than there are cores: a finished hash's thread waits for the
        // main thread to hand its slot on, and with one more in flight the cores hash
        // meanwhile instead of idling (bench/RESULTS.md, login). Leave libuv's pool at
        // least one thread for everything else it runs (file system, DNS, crypto).
        maxConcurrent:
          e.HASH_MAX_CONCURRENT ?? Math.max(1, Math.min(availableParallelism() + 1, e.UV_THREADPOOL_SIZE - 1)),
        maxQueued: e.HASH_MAX_QUEUED,
      },
      loginThrottle: { maxFailures: e.LOGIN_MAX_FAILURES, windowSeconds: e.LOGIN_LOCKOUT_SECONDS },
      authRateLimitPerMinute: e.AUTH_RATE_LIMIT_PER_MINUTE,
      // Outside production with no list, Apollo's hosted Sandbox may call a
      // development server with no set-up (BEHAVIOUR.md §10); production gets none.
      corsOrigins: (e.CORS_ORIGINS ?? (production ? [] : [APOLLO_STUDIO_ORIGIN])).map((o) => new URL(o).origin),
      introspection: e.GRAPHQL_INTROSPECTION ?? !production,
      trustProxy: e.TRUST_PROXY,
      logLevel: e.LOG_LEVEL,
      shutdownTimeoutSeconds: e.SHUTDOWN_TIMEOUT,
      maintenanceInterval: e.MAINTENANCE_INTERVAL,
      metricsPort: e.METRICS_PORT ?? null,
      appUrl,
      mail: { ...mail, from: e.MAIL_FROM ?? `no-reply@${new URL(appUrl).hostname}` },
      email: {
        requireVerification: e.REQUIRE_EMAIL_VERIFICATION,
        reauthMaxAge: e.REAUTH_MAX_AGE,
        tokenTtl: {
          "verify-email": e.EMAIL_VERIFICATION_TTL,
          "reset-password": e.PASSWORD_RESET_TTL,
          "email-change": e.EMAIL_CHANGE_TTL,
          "sign-in": e.EMAIL_SIGN_IN_TTL,
        },
        requestsPerEmailPerHour: e.EMAIL_REQUESTS_PER_HOUR,
      },
      webauthn,
      mfa: { totpIssuer: (e.TOTP_ISSUER ?? mail.productName.replaceAll(":", " ")).trim() },
      oauth,
    },
  };
}

type Env = z.output<typeof envSchema>;

/** OAUTH_*: named after each provider, so read by config-oauth.ts rather than the schema above. */
function oauthOf(env: NodeJS.ProcessEnv, production: boolean): OAuthConfig {
  // An empty variable means "not set", as for every other variable.
  const present = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith("OAUTH_") && v !== ""));
  try {
    return oauthConfig(present, production);
  } catch (error) {
    if (error instanceof OAuthConfigError) throw new ConfigError(error.message);
    throw error;
  }
}

/**
 * MAIL_TRANSPORT, defaulting to smtp when SMTP_URL is set and to `.eml`
 * files outside production. Production sends real mail or says it sends
 * none: neither SMTP_URL nor MAIL_TRANSPORT=none stops the start, rather
 * than queueing sign-in links nobody receives.
 */
function mailConfig(e: Env, production: boolean): Omit<MailConfig, "from"> {
  const transport = e.MAIL_TRANSPORT ?? (e.SMTP_URL !== undefined ? "smtp" : production ? undefined : "file");
  if (transport === undefined) {
    throw new ConfigError(
      "SMTP_URL: missing; production sends mail through SMTP (SMTP_URL=smtp://user:pass@host:587), or set MAIL_TRANSPORT=none to send none",
    );
  }
  if (transport === "file" && production) {
    throw new ConfigError(
      "MAIL_TRANSPORT: file is for development (mail never leaves the machine); production needs SMTP_URL or MAIL_TRANSPORT=none",
    );
  }
  return {
    transport,
    smtpUrl: transport === "smtp" ? (e.SMTP_URL ?? null) : null,
    templatesDir: e.MAIL_TEMPLATES_DIR === undefined ? SHIPPED_TEMPLATES_DIR : resolve(e.MAIL_TEMPLATES_DIR),
    productName: e.MAIL_PRODUCT_NAME.trim(),
    pollInterval: e.MAIL_POLL_INTERVAL,
    fileDir: resolve(e.MAIL_FILE_DIR),
  };
}

/**
 * APP_URL without a trailing slash, so `${appUrl}/reset-password` has one
 * slash whether the operator wrote `https://example.com/app` or
 * `https://example.com/app/`. Production needs it when mail is on: a link
 * to localhost in a real mail is a broken product.
 */
function appUrlOf(value: string | undefined, production: boolean, mailOn: boolean): string {
  if (value === undefined) {
    if (production && mailOn) {
      throw new ConfigError(
        "APP_URL: missing; production needs the frontend's base URL for the links in mails (e.g. https://app.example.com)",
      );
    }
    return DEFAULT_APP_URL;
  }
  const url = new URL(value);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/**
 * WEBAUTHN_*: by default passkeys belong to APP_URL's host and ceremonies
 * come from APP_URL's origin. A browser makes or uses a passkey only when
 * the RP id is the page's host or a parent domain of it (WebAuthn Level 2
 * §5.1.3 step 8, "registrable domain suffix"), so an RP id no origin could
 * use is a mistake caught here rather than in every user's browser. (Public
 * suffixes such as `co.uk` are the browser's to refuse: no list is shipped.)
 */
function webauthnConfig(e: Env, appUrl: string, warnings: string[]): WebAuthnConfig {
  const origins = (e.WEBAUTHN_ORIGINS ?? [appUrl]).map((o) => new URL(o).origin);
  const rpId = e.WEBAUTHN_RP_ID ?? new URL(appUrl).hostname;
  for (const origin of origins) {
    const host = new URL(origin).hostname;
    if (host !== rpId && !host.endsWith(`.${rpId}`)) {
      throw new ConfigError(
        `WEBAUTHN_RP_ID: ${rpId} is neither the host of the origin ${origin} nor a parent domain of it; set WEBAUTHN_RP_ID or WEBAUTHN_ORIGINS (APP_URL gives both by default)`,
      );
    }
  }
  if (isIP(rpId.replace(/^\[|\]$/g, "")) !== 0) {
    warnings.push(
      `WEBAUTHN_RP_ID is the IP address ${rpId}: browsers make passkeys only for domain names (use localhost in development)`,
    );
  }
  return { rpId, rpName: (e.WEBAUTHN_RP_NAME ?? e.MAIL_PRODUCT_NAME).trim(), origins: [...new Set(origins)] };
}

function isBareOrigin(value: string): boolean {
  if (!URL.canParse(value)) return true; // the URL check reports it
  const url = new URL(value);
  return (
    (url.pathname === "/" || url.pathname === "") &&
    url.search === "" &&
    url.hash === "" &&
    url.username === "" &&
    url.password === ""
  );
}

function isSmtpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      (url.protocol === "smtp:" || url.protocol === "smtps:") &&
      url.hostname !== "" &&
      url.pathname.replace(/\/$/, "") === ""
    );
  } catch {
    return false;
  }
}

/**
 * What TRUST_PROXY=true believes: proxies on this host or a private network
 * (loopback, RFC 1918, RFC 4193 unique-local), where a reverse proxy in front
 * of this server lives. Never the internet: with a public client connecting
 * directly, its X-Forwarded-For is ignored. Link-local (169.254/16, fe80::/10)
 * and carrier-grade NAT (100.64/10) are left out; list them if a proxy is there.
 */
export const LOCAL_PROXY_RANGES = ["127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];

/**
 * The operator CLI's configuration: DATABASE_URL and the lifetimes `prune`
 * needs, nothing else. It needs no JWT_SECRET or SECRET_KEYS, in production
 * either, and ignores what only the server reads.
 */
export function loadOperatorConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const e = parse(operatorEnvSchema, env);
  return {
    database: parseDatabaseUrl(e.DATABASE_URL),
    refreshTokenTtl: e.REFRESH_TOKEN_TTL,
    loginThrottle: { maxFailures: e.LOGIN_MAX_FAILURES, windowSeconds: e.LOGIN_LOCKOUT_SECONDS },
  };
}

/**
 * What an operator command that queues mail needs (`reset-mfa`): the
 * server's SECRET_KEYS, because the outbox seals every mail's params under a
 * key derived from them and the server's worker must open it; whether mail
 * is on (MAIL_TRANSPORT=none: nothing is queued); and MAIL_FROM (or
 * APP_URL's host) for the Message-ID's domain, as the server would.
 */
export interface OperatorMailConfig {
  secretKeys: SecretKeys;
  mailEnabled: boolean;
  from: string;
}

export function loadOperatorMailConfig(env: NodeJS.ProcessEnv = process.env): OperatorMailConfig {
  const e = parse(operatorMailEnvSchema, env);
  if (e.SECRET_KEYS === undefined) {
    throw new ConfigError(
      "SECRET_KEYS: missing; this command queues a notice mail, sealed with the server's SECRET_KEYS (give the same value)",
    );
  }
  return {
    secretKeys: secretKeys(e.SECRET_KEYS, undefined, []),
    mailEnabled: e.MAIL_TRANSPORT !== "none",
    from: e.MAIL_FROM ?? `no-reply@${new URL(e.APP_URL ?? DEFAULT_APP_URL).hostname}`,
  };
}

function parse<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  // An empty variable (`FOO=` in a compose file) means "not set".
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  return parsed.data;
}

function parseTrustProxy(value: string): false | number | string[] {
  if (value === "false" || value === "0") return false;
  if (value === "true") return [...LOCAL_PROXY_RANGES];
  if (/^\d+$/.test(value)) return Number(value);
  return value.split(",").map((s) => s.trim());
}

function isAddressOrCidr(entry: string): boolean {
  const [address = "", prefix, ...rest] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

function parseDatabaseUrl(url: string): DatabaseConfig {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") throw new ConfigError("DATABASE_URL: sqlite: needs a file path, e.g. sqlite:./data/auth.sqlite");
    return { kind: "sqlite", path: resolve(path) };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    try {
      new URL(url);
    } catch {
      throw new ConfigError("DATABASE_URL: not a valid postgres:// URL");
    }
    return { kind: "postgres", url };
  }
  throw new ConfigError("DATABASE_URL: must be sqlite:PATH or postgres://user:pass@host:5432/db");
}

function hmacSecret(value: string | undefined, devKeys: DevelopmentKeys | undefined, warnings: string[]): Buffer {
  if (value !== undefined) {
    const secret = Buffer.from(value, "utf8");
    if (secret.length < MIN_SECRET_BYTES) {
      throw new ConfigError(`JWT_SECRET: must be at least ${MIN_SECRET_BYTES} bytes (got ${secret.length})`);
    }
    return secret;
  }
  if (devKeys === undefined) {
    throw new ConfigError(
      `JWT_SECRET: missing; production needs an HS256 secret of at least ${MIN_SECRET_BYTES} random bytes (e.g. \`openssl rand -base64 48\`)`,
    );
  }
  const { secret, keptIn } = devKeys.secret("jwt-secret");
  warnings.push(`JWT_SECRET is not set: using a generated development secret kept in ${keptIn}`);
  return secret;
}

function secretKeys(value: string | undefined, devKeys: DevelopmentKeys | undefined, warnings: string[]): SecretKeys {
  if (value !== undefined) {
    const parts = value.split(",").map((part) => part.trim());
    try {
      return new SecretKeys(parts.map((part) => SecretKeys.parseKey(part)));
    } catch (error) {
      throw new ConfigError(
        `SECRET_KEYS: ${(error as Error).message} (comma-separated, each 32+ bytes as hex or base64url)`,
      );
    }
  }
  if (devKeys === undefined) {
    throw new ConfigError(
      "SECRET_KEYS: missing; production needs at least one server secret of 32+ random bytes (e.g. `openssl rand -hex 32`)",
    );
  }
  const { secret, keptIn } = devKeys.secret("secret-keys");
  warnings.push(`SECRET_KEYS is not set: using a generated development key kept in ${keptIn}`);
  return new SecretKeys([secret]);
}

function asymmetricKeys(
  algorithm: AsymmetricAlgorithm,
  value: string | undefined,
  devKeys: DevelopmentKeys | undefined,
  warnings: string[],
): SigningKeys {
  let pems = value === undefined ? [] : splitPemKeys(value);
  if (value !== undefined && pems.length === 0) {
    throw new ConfigError("JWT_PRIVATE_KEYS: no PEM private key found (-----BEGIN PRIVATE KEY----- …)");
  }
  if (pems.length === 0) {
    if (devKeys === undefined) {
      throw new ConfigError(
        `JWT_PRIVATE_KEYS: missing; JWT_ALGORITHM=${algorithm} needs a private key (\`npm run cli -- gen-key ${algorithm}\`)`,
      );
    }
    const { pem, keptIn } = devKeys.privateKey(algorithm);
    warnings.push(`JWT_PRIVATE_KEYS is not set: using a generated development key kept in ${keptIn}`);
    pems = [pem];
  }
  try {
    return SigningKeys.asymmetric(algorithm, pems);
  } catch (error) {
    throw new ConfigError(`JWT_PRIVATE_KEYS: ${(error as Error).message}`);
  }
}

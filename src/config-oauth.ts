/**
 * OAUTH_* (BEHAVIOUR.md §9; README "Sign-in with an identity provider"): the
 * providers' variables are named after each provider's id, so they cannot be
 * a fixed schema; `loadConfig` hands the environment here and nothing else
 * reads it. Pure, like the rest of the configuration.
 */

/** An OpenID Connect provider found by discovery at `issuer` (Google is one with its issuer preset). */
export interface OidcProviderConfig {
  kind: "oidc";
  id: string;
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
}

/** GitHub (OAuth 2.0, no ID token): the token endpoint, then the user and verified-emails APIs. */
export interface GitHubProviderConfig {
  kind: "github";
  id: "github";
  name: string;
  /** https://github.com, or a GitHub Enterprise Server's address. */
  baseUrl: string;
  /** https://api.github.com, or `<server>/api/v3` for GitHub Enterprise Server. */
  apiUrl: string;
  clientId: string;
  clientSecret: string;
}

export type OAuthProviderConfig = OidcProviderConfig | GitHubProviderConfig;

export interface OAuthConfig {
  /** OAUTH_PROVIDERS, in the order given: `oauthProviders` lists them so. */
  providers: OAuthProviderConfig[];
  /** OAUTH_REDIRECT_URIS: the frontend's callback addresses; a start names one of them exactly. */
  redirectUris: string[];
  /** OAUTH_ALLOW_SIGN_UP: whether a provider sign-in may create an account (else only existing accounts sign in). */
  allowSignUp: boolean;
}

export class OAuthConfigError extends Error {
  override name = "OAuthConfigError";
}

const GOOGLE_ISSUER = "https://accounts.google.com";
const GITHUB_BASE_URL = "https://github.com";
const GITHUB_API_URL = "https://api.github.com";
const DISPLAY_NAMES: Record<string, string> = { google: "Google", github: "GitHub" };
/** Becomes part of variable names (OAUTH_<ID>_…) and of `amr`: short, lower-case letters and digits. */
const PROVIDER_ID = /^[a-z][a-z0-9]{0,31}$/;
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Reads OAUTH_* from `env` (empty values already dropped by the caller). */
export function oauthConfig(env: Record<string, string | undefined>, production: boolean): OAuthConfig {
  const ids = list(env.OAUTH_PROVIDERS);
  const seen = new Set<string>();
  const providers = ids.map((id) => {
    if (!PROVIDER_ID.test(id)) {
      throw new OAuthConfigError(
        `OAUTH_PROVIDERS: "${id.slice(0, 40)}" is not a provider id (lower-case letters and digits, starting with a letter, such as google, github or acme)`,
      );
    }
    if (seen.has(id)) throw new OAuthConfigError(`OAUTH_PROVIDERS: ${id} is listed twice`);
    seen.add(id);
    return providerConfig(env, id);
  });

  const redirectUris = list(env.OAUTH_REDIRECT_URIS).map((uri) => redirectUri(uri, production));
  if (providers.length > 0 && redirectUris.length === 0) {
    throw new OAuthConfigError(
      "OAUTH_REDIRECT_URIS: missing; list the frontend's callback address(es), e.g. https://app.example.com/oauth/callback",
    );
  }
  const allowSignUp = env.OAUTH_ALLOW_SIGN_UP ?? "true";
  if (!["true", "false", "1", "0"].includes(allowSignUp)) {
    throw new OAuthConfigError("OAUTH_ALLOW_SIGN_UP: must be true or false");
  }
  return { providers, redirectUris, allowSignUp: allowSignUp === "true" || allowSignUp === "1" };
}

function providerConfig(env: Record<string, string | undefined>, id: string): OAuthProviderConfig {
  const prefix = `OAUTH_${id.toUpperCase()}_`;
  const required = (name: string) => {
    const value = env[prefix + name]?.trim();
    if (value === undefined || value === "") {
      throw new OAuthConfigError(`${prefix}${name}: missing; provider ${id} is listed in OAUTH_PROVIDERS`);
    }
    return value;
  };
  const name = displayName(env[`${prefix}NAME`], id, prefix);
  const clientId = required("CLIENT_ID");
  const clientSecret = required("CLIENT_SECRET");
  if (id === "github") {
    return {
      kind: "github",
      id,
      name,
      baseUrl: providerUrl(env[`${prefix}BASE_URL`] ?? GITHUB_BASE_URL, `${prefix}BASE_URL`),
      apiUrl: providerUrl(env[`${prefix}API_URL`] ?? GITHUB_API_URL, `${prefix}API_URL`),
      clientId,
      clientSecret,
    };
  }
  const issuer = env[`${prefix}ISSUER`] ?? (id === "google" ? GOOGLE_ISSUER : undefined);
  if (issuer === undefined) {
    throw new OAuthConfigError(
      `${prefix}ISSUER: missing; an OpenID Connect provider is found by discovery at its issuer URL (e.g. https://login.example.com/realms/main)`,
    );
  }
  return { kind: "oidc", id, name, issuer: providerUrl(issuer, `${prefix}ISSUER`), clientId, clientSecret };
}

function displayName(value: string | undefined, id: string, prefix: string): string {
  if (value === undefined) return DISPLAY_NAMES[id] ?? id.charAt(0).toUpperCase() + id.slice(1);
  const name = value.trim();
  if (name === "" || name.length > 50 || /[\r\n<>]/.test(name)) {
    throw new OAuthConfigError(`${prefix}NAME: must be one line of at most 50 characters without < or >`);
  }
  return name;
}

/**
 * A provider's address: HTTPS, because the client secret and the user's
 * tokens travel there; plain HTTP only on this machine (a provider run
 * locally in development and in the tests). No trailing slash.
 */
function providerUrl(value: string, variable: string): string {
  const url = URL.canParse(value) ? new URL(value) : null;
  if (url === null || !(url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname)))) {
    throw new OAuthConfigError(`${variable}: must be an https:// URL (http:// only for localhost)`);
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new OAuthConfigError(`${variable}: must have no query, fragment or credentials`);
  }
  return url.href.replace(/\/+$/, "");
}

/**
 * A redirect URI as the frontend will send it, compared byte for byte later
 * (no normalisation: RFC 9700 §4.1.3 asks for exact matching). Production
 * wants HTTPS, where the code in it cannot be read on the way (loopback
 * excepted, RFC 8252 §7.3).
 */
function redirectUri(value: string, production: boolean): string {
  const url = URL.canParse(value) ? new URL(value) : null;
  if (url === null || (url.protocol !== "https:" && url.protocol !== "http:") || url.hash !== "") {
    throw new OAuthConfigError(
      "OAUTH_REDIRECT_URIS: each must be an absolute http(s) URL without a fragment, e.g. https://app.example.com/oauth/callback",
    );
  }
  if (production && url.protocol === "http:" && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new OAuthConfigError("OAUTH_REDIRECT_URIS: production needs https:// (http:// only for localhost)");
  }
  return value;
}

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

import * as client from "openid-client";
import { isValidEmail, normalizeEmail } from "../auth/emails";
import type { GitHubProviderConfig, OAuthProviderConfig, OidcProviderConfig } from "../config-oauth";
import type { ProviderIdentity } from "./account-resolution";
import type { FlowSecrets } from "./oauth-flows";

/** Seconds any one request to a provider may take: a slow provider must not hold the request forever. */
const PROVIDER_TIMEOUT_SECONDS = 10;
const OIDC_SCOPES = "openid email profile";
/** https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps: the profile and the addresses with their verification. */
const GITHUB_SCOPES = "read:user user:email";
const GITHUB_API_VERSION = "2022-11-28";

/** A callback as the frontend relays it, with the flow it belongs to. */
export interface ProviderCallback extends FlowSecrets {
  code: string;
  redirectUri: string;
}

/**
 * Why talking to a provider failed: `rejected` when it answered and refused
 * (a used or forged code, a PKCE mismatch, an ID token that does not check
 * out), `unavailable` when it did not answer or answered with a server
 * error. `detail` names what failed for the event log: an error code, never
 * a token.
 */
export class ProviderError extends Error {
  override name = "ProviderError";
  constructor(
    readonly kind: "rejected" | "unavailable",
    readonly detail: string,
  ) {
    super(`identity provider ${kind}: ${detail}`);
  }
}

/** One configured provider: builds the authorization URL, and turns a callback into who the person is. */
export interface IdentityProvider {
  readonly id: string;
  readonly name: string;
  authorizationUrl(redirectUri: string, flow: FlowSecrets): Promise<URL>;
  identify(callback: ProviderCallback): Promise<ProviderIdentity>;
}

export function identityProviderOf(config: OAuthProviderConfig): IdentityProvider {
  return config.kind === "github" ? new GitHubProvider(config) : new OidcProvider(config);
}

/**
 * Any OpenID Connect provider, by discovery (`OAUTH_<ID>_ISSUER`), through
 * openid-client: authorization code with PKCE S256, state and nonce; the ID
 * token's signature checked against the provider's JWKS (non-repudiation
 * checks: the client would otherwise trust the token for having come over
 * TLS from the token endpoint, OIDC Core §3.1.3.7 step 6), and its `iss`,
 * `aud`, `exp`, `iat` and `nonce`.
 */
class OidcProvider implements IdentityProvider {
  readonly id: string;
  readonly name: string;
  private configuration: Promise<client.Configuration> | null = null;

  constructor(private readonly config: OidcProviderConfig) {
    this.id = config.id;
    this.name = config.name;
  }

  async authorizationUrl(redirectUri: string, flow: FlowSecrets): Promise<URL> {
    const configuration = await this.discovered();
    return client.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUri,
      scope: OIDC_SCOPES,
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(flow.codeVerifier),
      code_challenge_method: "S256",
    });
  }

  async identify(callback: ProviderCallback): Promise<ProviderIdentity> {
    const configuration = await this.discovered();
    const claims = await guarded(async () => {
      const tokens = await client.authorizationCodeGrant(configuration, callbackUrl(configuration, callback), {
        pkceCodeVerifier: callback.codeVerifier,
        expectedState: callback.state,
        expectedNonce: callback.nonce,
        idTokenExpected: true,
      });
      const idToken = tokens.claims();
      if (idToken === undefined) throw new ProviderError("rejected", "no ID token");
      if (typeof idToken.email === "string") return idToken;
      // Many providers put the email only in the userinfo response unless asked for it in the ID token.
      return {
        ...(await client.fetchUserInfo(configuration, tokens.access_token, idToken.sub)),
        sub: idToken.sub,
      };
    });
    return identityOf(this.id, String(claims.sub), claims.email, claims.email_verified);
  }

  /** Discovery once; a failed one is forgotten, so the next request tries again (the server recovers by itself). */
  private discovered(): Promise<client.Configuration> {
    this.configuration ??= guarded(async () => {
      const insecure = new URL(this.config.issuer).protocol === "http:";
      const configuration = await client.discovery(
        new URL(this.config.issuer),
        this.config.clientId,
        this.config.clientSecret,
        undefined,
        // http:// is accepted by the configuration only on loopback (config-oauth.ts).
        { execute: insecure ? [client.allowInsecureRequests] : [], timeout: PROVIDER_TIMEOUT_SECONDS },
      );
      client.enableNonRepudiationChecks(configuration);
      return configuration;
    }).catch((error: unknown) => {
      this.configuration = null;
      // Without its metadata nothing can be asked of the provider: whatever the cause (down,
      // or a wrong OAUTH_<ID>_ISSUER, which the event's detail names), the client can only wait.
      throw error instanceof ProviderError ? new ProviderError("unavailable", `discovery: ${error.detail}`) : error;
    });
    return this.configuration;
  }
}

/**
 * The callback URL as the provider sent the browser to it (for GitHub, which
 * advertises no `iss`, just the code and state). The contract's
 * callback input has no `iss` (RFC 9207), which openid-client requires when
 * the provider advertises it; it is supplied here because the flow was
 * bound to this provider when it started (its state names it), the
 * mix-up defence RFC 9207 §1 and RFC 9700 §4.4.2 accept in its place.
 */
function callbackUrl(configuration: client.Configuration, callback: ProviderCallback): URL {
  const url = new URL(callback.redirectUri);
  url.searchParams.set("code", callback.code);
  url.searchParams.set("state", callback.state);
  const metadata = configuration.serverMetadata();
  if (metadata.authorization_response_iss_parameter_supported === true) url.searchParams.set("iss", metadata.issuer);
  return url;
}

interface GitHubUser {
  id: number;
  email?: string | null;
}
interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
}

/**
 * GitHub: OAuth 2.0 without OpenID Connect (no ID token, no discovery). The
 * code is exchanged through openid-client (PKCE S256 and the state checked
 * as for any provider); who the person is comes from the REST API: `GET
 * /user` for the stable numeric id, `GET /user/emails` for the addresses and
 * whether GitHub verified them. `OAUTH_GITHUB_BASE_URL` and `…_API_URL` point
 * it at GitHub Enterprise Server (or the tests' stand-in).
 */
class GitHubProvider implements IdentityProvider {
  readonly id: string;
  readonly name: string;
  private readonly configuration: client.Configuration;

  constructor(private readonly config: GitHubProviderConfig) {
    this.id = config.id;
    this.name = config.name;
    this.configuration = new client.Configuration(
      {
        issuer: config.baseUrl,
        authorization_endpoint: `${config.baseUrl}/login/oauth/authorize`,
        token_endpoint: `${config.baseUrl}/login/oauth/access_token`,
      },
      config.clientId,
      config.clientSecret,
    );
    this.configuration.timeout = PROVIDER_TIMEOUT_SECONDS;
    if (new URL(config.baseUrl).protocol === "http:") client.allowInsecureRequests(this.configuration);
  }

  async authorizationUrl(redirectUri: string, flow: FlowSecrets): Promise<URL> {
    return client.buildAuthorizationUrl(this.configuration, {
      redirect_uri: redirectUri,
      scope: GITHUB_SCOPES,
      state: flow.state,
      code_challenge: await client.calculatePKCECodeChallenge(flow.codeVerifier),
      code_challenge_method: "S256",
      // Always show the account chooser: a shared browser signed into GitHub would otherwise pick for the user.
      prompt: "select_account",
    });
  }

  async identify(callback: ProviderCallback): Promise<ProviderIdentity> {
    return guarded(async () => {
      const tokens = await client.authorizationCodeGrant(
        this.configuration,
        callbackUrl(this.configuration, callback),
        {
          pkceCodeVerifier: callback.codeVerifier,
          expectedState: callback.state,
        },
      );
      const user = (await this.api("/user", tokens.access_token)) as GitHubUser;
      if (typeof user?.id !== "number") throw new ProviderError("rejected", "GitHub user without an id");
      // Without the user:email scope granted (the user may untick it) the list is refused: use the public email, unverified.
      const emails = (await this.api("/user/emails", tokens.access_token, true)) as GitHubEmail[] | null;
      const primary = Array.isArray(emails) ? emails.find((e) => e.primary) : undefined;
      return primary === undefined
        ? identityOf(this.id, String(user.id), user.email, false)
        : identityOf(this.id, String(user.id), primary.email, primary.verified);
    });
  }

  private async api(path: string, accessToken: string, optional = false): Promise<unknown> {
    const response = await fetch(`${this.config.apiUrl}${path}`, {
      headers: {
        accept: "application/vnd.github+json",
        authorization: `Bearer ${accessToken}`,
        "x-github-api-version": GITHUB_API_VERSION,
        "user-agent": "graphql-auth-server",
      },
      signal: AbortSignal.timeout(PROVIDER_TIMEOUT_SECONDS * 1000),
    });
    if (response.status >= 500) throw new ProviderError("unavailable", `GitHub API ${path}: HTTP ${response.status}`);
    if (!response.ok) {
      if (optional && (response.status === 403 || response.status === 404)) return null;
      throw new ProviderError("rejected", `GitHub API ${path}: HTTP ${response.status}`);
    }
    return response.json();
  }
}

/** The identity as the resolution needs it: an email only if it is one this server accepts. */
function identityOf(provider: string, subject: string, email: unknown, verified: unknown): ProviderIdentity {
  const normalised = typeof email === "string" ? normalizeEmail(email) : null;
  const usable = normalised !== null && isValidEmail(normalised) ? normalised : null;
  // Some providers send the boolean as a string; anything else is not a verification.
  return {
    provider,
    subject,
    email: usable,
    emailVerified: usable !== null && (verified === true || verified === "true"),
  };
}

/**
 * Runs a conversation with a provider and sorts its failures: no answer, a
 * timeout or a 5xx is `unavailable`; anything else (an OAuth error such as
 * invalid_grant, a failed check of the ID token) is `rejected`.
 */
async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ProviderError) throw error;
    throw new ProviderError(isOutage(error) ? "unavailable" : "rejected", describe(error));
  }
}

function isOutage(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.name === "TimeoutError" || e.name === "AbortError") return true;
    // undici's network failure (connection refused, reset, DNS).
    if (e instanceof TypeError && /fetch failed/i.test(e.message)) return true;
    const status = (e as { status?: unknown }).status;
    if (typeof status === "number" && status >= 500) return true;
    const response = (e as { cause?: unknown }).cause;
    if (response instanceof Response && response.status >= 500) return true;
  }
  return false;
}

/** An error's code and OAuth error, for the event: openid-client's messages name checks, never token values. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const { code, error: oauthError } = error as { code?: unknown; error?: unknown };
  return [
    error.name,
    typeof code === "string" ? code : null,
    typeof oauthError === "string" ? oauthError : null,
    error.message,
  ]
    .filter(Boolean)
    .join(": ")
    .slice(0, 300);
}

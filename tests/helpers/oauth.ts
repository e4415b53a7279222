import { type GitHubStandIn, startGitHubStandIn } from "./github-stand-in";
import { gql, PAYLOAD } from "./graphql";
import { startOidcProvider, type TestOidcProvider } from "./oidc-provider";

// The server's side of a provider sign-in in tests: a real OpenID Provider
// (oidc-provider) as "acme", the GitHub stand-in as "github", and the
// operations of oauth.graphql. No browser: the provider's own login and
// consent forms are submitted over HTTP (`authorize`); tests/browser-oauth.test.ts
// clicks through them in Chromium.

/** The frontend's callback: the server only compares it, nothing is served there. */
export const REDIRECT_URI = "http://127.0.0.1:9/oauth/callback";

export const START_OAUTH = `mutation ($provider: String!, $redirectUri: String!) {
  startOAuthSignIn(provider: $provider, redirectUri: $redirectUri) { authorizationUrl }
}`;
export const FINISH_OAUTH = `mutation ($input: OAuthCallbackInput!) { finishOAuthSignIn(input: $input) { ${PAYLOAD} } }`;
export const LINK_OAUTH = `mutation ($input: OAuthCallbackInput!) {
  linkOAuthAccount(input: $input) { id provider email createdAt }
}`;
export const UNLINK_OAUTH = "mutation ($id: ID!) { unlinkOAuthAccount(id: $id) }";
export const LINKED_ACCOUNTS = "query { linkedAccounts { id provider email createdAt } }";

export interface Providers {
  op: TestOidcProvider;
  github: GitHubStandIn;
  /** The server's OAUTH_* for both. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startProviders(options: { emailInIdToken?: boolean } = {}): Promise<Providers> {
  const op = await startOidcProvider({ redirectUris: [REDIRECT_URI], emailInIdToken: options.emailInIdToken });
  const github = await startGitHubStandIn({ redirectUris: [REDIRECT_URI] });
  return {
    op,
    github,
    env: {
      OAUTH_PROVIDERS: "acme,github",
      OAUTH_ACME_ISSUER: op.issuer,
      OAUTH_ACME_CLIENT_ID: op.clientId,
      OAUTH_ACME_CLIENT_SECRET: op.clientSecret,
      OAUTH_GITHUB_CLIENT_ID: github.clientId,
      OAUTH_GITHUB_CLIENT_SECRET: github.clientSecret,
      OAUTH_GITHUB_BASE_URL: github.baseUrl,
      OAUTH_GITHUB_API_URL: github.apiUrl,
      OAUTH_REDIRECT_URIS: REDIRECT_URI,
    },
    stop: async () => {
      await op.stop();
      await github.stop();
    },
  };
}

export interface Callback {
  provider: string;
  code: string;
  state: string;
}

/** startOAuthSignIn on the server, as `token`'s user if given; the authorization URL. */
export async function startOAuth(url: string, provider: string, token?: string): Promise<URL> {
  const r = await gql<{ startOAuthSignIn: { authorizationUrl: string } }>(
    url,
    START_OAUTH,
    { provider, redirectUri: REDIRECT_URI },
    { token },
  );
  const started = r.body.data?.startOAuthSignIn;
  if (!started) throw new Error(`startOAuthSignIn failed: ${r.text}`);
  return new URL(started.authorizationUrl);
}

/** A started sign-in taken through the provider as `who` (an OIDC sub, or a GitHub user id): the callback's input. */
export async function throughProvider(providers: Providers, authorizationUrl: URL, who: string | number) {
  const callback =
    typeof who === "number"
      ? await providers.github.authorize(authorizationUrl.href, who)
      : await providers.op.authorize(authorizationUrl.href, who);
  return callbackInput(authorizationUrl, callback);
}

/** What the frontend sends from the page the provider redirected to. */
export function callbackInput(authorizationUrl: URL, callback: URL): Callback {
  const provider = authorizationUrl.searchParams.get("scope")?.includes("openid") ? "acme" : "github";
  return {
    provider,
    code: callback.searchParams.get("code") ?? "",
    state: callback.searchParams.get("state") ?? "",
  };
}

/** Start, provider, and the callback input, in one. */
export async function providerCallback(
  url: string,
  providers: Providers,
  who: string | number,
  token?: string,
): Promise<Callback> {
  return throughProvider(providers, await startOAuth(url, typeof who === "number" ? "github" : "acme", token), who);
}

export function finishOAuth(url: string, input: Callback) {
  return gql<{ finishOAuthSignIn: { accessToken: string; refreshToken: string; user: { id: string; email: string } } }>(
    url,
    FINISH_OAUTH,
    { input },
  );
}

export function linkOAuth(url: string, token: string, input: Callback) {
  return gql<{ linkOAuthAccount: { id: string; provider: string; email: string | null } }>(
    url,
    LINK_OAUTH,
    { input },
    { token },
  );
}

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type CryptoKey, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from "jose";

/** An account of the test provider; `sub` is also the login typed on its login page. */
export interface TestOidcUser {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface StartOidcOptions {
  /** Registered for the test client (exact match, as OpenID Connect requires). */
  redirectUris: string[];
  /**
   * true: email/email_verified/name go in the ID token too (conformIdTokenClaims false);
   * false (default): only from the userinfo endpoint, so the RP must call it.
   */
  emailInIdToken?: boolean;
}

export interface TestOidcProvider {
  /** "http://127.0.0.1:PORT": the tampering proxy's address; discovery, auth, token, jwks, userinfo all go through it. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Accounts the provider knows; a test adds or edits entries before a flow. The login id typed on the login page is the sub. */
  users: Map<string, TestOidcUser>;
  /**
   * Runs an authorization request without a browser: follows authorizationUrl, logs in as `sub`
   * through the real devInteractions login form, grants consent through the real consent form,
   * and returns the URL the browser would land on (redirect_uri?code=…&state=…&iss=…).
   * Each call is a fresh browser (no session cookie), so the login and consent pages always show.
   * Throws OidcAuthorizationRedirectError (with the landing URL) if the provider redirects back
   * with `error=…`, and a plain Error if it renders an error page.
   */
  authorize(authorizationUrl: string, sub: string): Promise<URL>;
  /**
   * The next token-endpoint responses get their id_token replaced: claims passed through `patch`
   * and re-signed with the provider's own key, or with a foreign key (same `kid`, so only the
   * signature check can catch it) when opts.foreignKey. `null` stops tampering. Applies until reset.
   */
  tamperIdToken(
    patch: ((claims: Record<string, unknown>) => Record<string, unknown>) | null,
    opts?: { foreignKey?: boolean },
  ): void;
  /** Number of token-endpoint requests seen (for asserting that a refused flow never reached it). */
  tokenRequests(): number;
  /** When true, every request answers 503 (provider outage). */
  setDown(down: boolean): void;
  stop(): Promise<void>;
}

/** The provider sent the browser back to the client with `error=…` (e.g. access_denied); `location` is where it landed. */
export class OidcAuthorizationRedirectError extends Error {
  constructor(readonly location: URL) {
    super(
      `provider redirected with error=${location.searchParams.get("error")}: ${location.searchParams.get("error_description") ?? ""}`,
    );
    this.name = "OidcAuthorizationRedirectError";
  }
}

/** The few parts of oidc-provider's (untyped) API this helper uses. */
interface OidcProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}
type OidcProviderClass = new (issuer: string, configuration: Record<string, unknown>) => OidcProviderInstance;

// oidc-provider is ESM-only and ships no types; the dynamic import (vitest runs tests as ESM)
// also lets its import-time notices go through `quietly` below.
async function loadProviderClass(): Promise<OidcProviderClass> {
  // @ts-expect-error no declaration file: the shape used here is OidcProviderClass
  const module = await import("oidc-provider");
  return module.default as OidcProviderClass;
}

/**
 * oidc-provider has no option to silence its "development-only" warnings (devInteractions, the
 * in-memory adapter), which are exactly what a test provider wants; drop those lines only while
 * it is set up, so any other warning still shows.
 */
async function quietly<T>(setup: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === "string" && args[0].includes("development-only")) return;
    warn(...args);
  };
  try {
    return await setup();
  } finally {
    console.warn = warn;
  }
}

const listen = (server: Server) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

/**
 * panva's oidc-provider (a certified OpenID Provider) on 127.0.0.1, behind a small proxy on
 * another ephemeral port. The proxy's address is the issuer: it forwards every request with its
 * Host header unchanged, so the provider builds every URL (discovery, interaction redirects) for
 * the proxy without `proxy = true` or X-Forwarded-* (both sides are plain http, and oidc-provider
 * only marks its cookies Secure when the request is https). Through the proxy a test can rewrite
 * ID tokens, count token requests and simulate an outage.
 */
export async function startOidcProvider(options: StartOidcOptions): Promise<TestOidcProvider> {
  const users = new Map<string, TestOidcUser>();
  const clientId = "test-rp";
  const clientSecret = randomBytes(24).toString("base64url");
  const kid = "test-signing-key";
  // RS256: the OpenID Connect default for ID tokens, so the client needs no
  // id_token_signed_response_alg (and the RP under test the same defaults as for most real providers).
  const signing = await generateKeyPair("RS256", { extractable: true });
  const foreign = await generateKeyPair("RS256");

  let tamper: { patch: (claims: Record<string, unknown>) => Record<string, unknown>; key: CryptoKey } | null = null;
  let tokenRequests = 0;
  let down = false;

  const proxy = createServer();
  const proxyPort = await listen(proxy);
  const issuer = `http://127.0.0.1:${proxyPort}`;

  const Provider = await quietly(loadProviderClass);
  const provider = await quietly(
    async () =>
      new Provider(issuer, {
        clients: [
          {
            client_id: clientId,
            client_secret: clientSecret,
            redirect_uris: options.redirectUris,
            grant_types: ["authorization_code"],
            response_types: ["code"],
            // openid-client 6 authenticates with client_secret_post when given the secret as a
            // string (new Configuration(as, id, secret) / discovery(url, id, secret)), and
            // oidc-provider accepts only the one method a client is registered with.
            token_endpoint_auth_method: "client_secret_post",
          },
        ],
        // PKCE for every client, confidential ones too (OAuth 2.0 Security BCP, RFC 9700 §2.1.1).
        pkce: { required: () => true },
        claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
        conformIdTokenClaims: !options.emailInIdToken,
        findAccount: (_ctx: unknown, id: string) => {
          const user = users.get(id);
          if (!user) return undefined;
          return {
            accountId: id,
            claims: () => ({ ...user, sub: id }),
          };
        },
        features: {
          // The built-in pages a Chromium test clicks through (<title> is "Sign-in" on both; the h1 differs):
          //   login (h1 "Sign-in", URL /interaction/<uid>): input[name="login"] (the sub),
          //     input[name="password"] (required, any value), button[type="submit"] "Sign-in";
          //   consent (h1 "Authorize", next /interaction/<uid>): button[type="submit"] "Continue";
          //   both: the link "[ Cancel ]" aborts with error=access_denied.
          devInteractions: { enabled: true },
        },
        jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), kid, alg: "RS256", use: "sig" }] },
        cookies: { keys: [randomBytes(32).toString("base64url")] },
        // Set, because each default prints a notice when used. Codes: 60 s (RFC 6749 §4.1.2: at most 10 min).
        ttl: { AuthorizationCode: 60, AccessToken: 600, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
        // Plain text, not the default page (which also logs a notice): authorize() reports it as is.
        renderError: (ctx: { type: string; body: string }, out: Record<string, string>) => {
          ctx.type = "text/plain";
          ctx.body = Object.entries(out)
            .map(([k, v]) => `${k}: ${v}`)
            .join("\n");
        },
      }),
  );

  const upstream = createServer(provider.callback());
  const upstreamPort = await listen(upstream);

  const resign = async (idToken: string): Promise<string> => {
    if (!tamper) return idToken;
    const header = decodeProtectedHeader(idToken);
    const claims = tamper.patch({ ...decodeJwt(idToken) });
    return new SignJWT(claims).setProtectedHeader({ ...header, alg: "RS256", kid }).sign(tamper.key);
  };

  proxy.on("request", (req, res) => {
    if (down) {
      res.writeHead(503, { "content-type": "text/plain" }).end("provider is down");
      return;
    }
    const isToken = req.method === "POST" && new URL(req.url ?? "/", issuer).pathname === "/token";
    if (isToken) tokenRequests++;
    const forward = request(
      { host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (!isToken || !tamper) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on("data", (c: Buffer) => chunks.push(c));
        answer.on("end", async () => {
          let body = Buffer.concat(chunks);
          try {
            const json = JSON.parse(body.toString("utf8"));
            if (typeof json.id_token === "string") {
              json.id_token = await resign(json.id_token);
              body = Buffer.from(JSON.stringify(json));
            }
          } catch (err) {
            res.writeHead(500, { "content-type": "text/plain" }).end(`tampering failed: ${err}`);
            return;
          }
          const { "transfer-encoding": _chunked, ...headers } = answer.headers;
          res.writeHead(answer.statusCode ?? 502, { ...headers, "content-length": String(body.length) });
          res.end(body);
        });
      },
    );
    forward.on("error", (err) => res.writeHead(502, { "content-type": "text/plain" }).end(String(err)));
    req.pipe(forward);
  });

  const redirectTargets = new Set(options.redirectUris.map((u) => stripQuery(new URL(u))));

  async function authorize(authorizationUrl: string, sub: string): Promise<URL> {
    // The login form takes any login, but findAccount finding none ends in a 500 server_error page.
    if (!users.has(sub)) throw new Error(`no account "${sub}" in users`);
    const jar = new CookieJar();
    let next: { url: URL; form?: URLSearchParams } = { url: new URL(authorizationUrl) };
    for (let step = 0; step < 20; step++) {
      const response = await fetch(next.url, {
        method: next.form ? "POST" : "GET",
        body: next.form,
        headers: { cookie: jar.header(next.url) },
        redirect: "manual",
      });
      jar.store(response.headers.getSetCookie());
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location) {
        const url = new URL(location, next.url);
        if (redirectTargets.has(stripQuery(url))) {
          if (url.searchParams.has("error")) throw new OidcAuthorizationRedirectError(url);
          return url;
        }
        if (url.origin !== issuer) throw new Error(`provider redirected outside itself: ${url.href}`);
        next = { url };
        continue;
      }
      const page = await response.text();
      const form =
        /<form[^>]*action="([^"]+)"[^>]*method="post">\s*<input type="hidden" name="prompt" value="(\w+)"/.exec(page);
      if (response.status !== 200 || !form) {
        throw new Error(`provider answered ${response.status} at ${next.url.pathname}: ${page.slice(0, 500)}`);
      }
      const action = new URL(form[1].replaceAll("&amp;", "&"), next.url);
      // The same fields the browser would post from the real pages (see the devInteractions note above).
      next =
        form[2] === "login"
          ? { url: action, form: new URLSearchParams({ prompt: "login", login: sub, password: "any" }) }
          : { url: action, form: new URLSearchParams({ prompt: form[2] }) };
    }
    throw new Error("authorization did not finish in 20 steps");
  }

  return {
    issuer,
    clientId,
    clientSecret,
    users,
    authorize,
    tamperIdToken(patch, opts) {
      tamper = patch && { patch, key: opts?.foreignKey ? foreign.privateKey : signing.privateKey };
    },
    tokenRequests: () => tokenRequests,
    setDown(value) {
      down = value;
    },
    async stop() {
      await Promise.all([close(proxy), close(upstream)]);
    },
  };
}

const stripQuery = (url: URL) => `${url.origin}${url.pathname}`;

/** Just enough of a browser's cookie jar for the provider's cookies: name, path, deletion. */
class CookieJar {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>();

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(";").map((s) => s.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = "/";
      let expired = false;
      for (const attribute of attributes) {
        const [key, val = ""] = attribute.split("=");
        if (key.toLowerCase() === "path") path = val;
        if (key.toLowerCase() === "expires" && Date.parse(val) <= Date.now()) expired = true;
        if (key.toLowerCase() === "max-age" && Number(val) <= 0) expired = true;
      }
      const id = `${name};${path}`;
      if (expired) this.cookies.delete(id);
      else this.cookies.set(id, { name, value, path });
    }
  }

  header(to: URL): string {
    return [...this.cookies.values()]
      .filter((c) => to.pathname === c.path || to.pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }
}

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One entry of GET /user/emails, as GitHub's REST API returns it. */
export interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
  visibility?: "public" | "private" | null;
}

export interface GitHubUser {
  id: number;
  login: string;
  name?: string | null;
  /** The public profile email GET /user shows; when undefined, the email whose visibility is "public", else null. */
  email?: string | null;
  emails: GitHubEmail[];
}

export interface GitHubStandIn {
  /** Serves GET/POST /login/oauth/authorize and POST /login/oauth/access_token (like https://github.com). */
  baseUrl: string;
  /** Serves GET /user and GET /user/emails (like https://api.github.com): `${baseUrl}/api`. */
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  users: Map<number, GitHubUser>;
  /**
   * Follows the authorize URL as user `id` through the page's "Authorize" form and returns
   * redirect_uri?code&state. Throws GitHubAuthorizationRedirectError (with the landing URL) if
   * GitHub sends the browser back with `error=…`, and a plain Error if it answers with a page.
   */
  authorize(authorizationUrl: string, userId: number): Promise<URL>;
  /** POSTs to /login/oauth/access_token seen, failed ones included. */
  tokenRequests(): number;
  /** When true, every request answers 503 (GitHub outage). */
  setDown(down: boolean): void;
  stop(): Promise<void>;
}

/** GitHub sent the browser back with `error=…` (access_denied, redirect_uri_mismatch); `location` is where it landed. */
export class GitHubAuthorizationRedirectError extends Error {
  constructor(readonly location: URL) {
    super(`GitHub redirected with error=${location.searchParams.get("error")}`);
    this.name = "GitHubAuthorizationRedirectError";
  }
}

const DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors";
// Error bodies of the token endpoint, worded as GitHub's troubleshooting page has them.
const TOKEN_ERRORS = {
  incorrect_client_credentials: "The client_id and/or client_secret passed are incorrect.",
  redirect_uri_mismatch: "The redirect_uri MUST match the registered callback URL for this application.",
  bad_verification_code: "The code passed is incorrect or expired.",
} as const;
const CODE_LIFETIME_MS = 10 * 60 * 1000;

interface PendingCode {
  clientId: string;
  /** The redirect_uri of the authorize request, or null when it relied on the registered one. */
  redirectUri: string | null;
  scope: string[];
  challenge: string | null;
  userId: number;
  expiresAt: number;
}

/**
 * A stand-in for GitHub's OAuth app endpoints on 127.0.0.1 and an ephemeral port, following
 * https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps and the
 * REST docs of /user and /user/emails, with two deliberate strictnesses: redirect_uri must equal
 * a registered one exactly (GitHub also accepts sub-paths and other loopback ports), and a
 * redirect_uri sent to authorize must come back unchanged to access_token (RFC 6749 §4.1.3).
 */
export async function startGitHubStandIn(options: { redirectUris: string[] }): Promise<GitHubStandIn> {
  const users = new Map<number, GitHubUser>();
  // Shaped like an OAuth app client id (GitHub Apps use "Iv1." / "Iv23").
  const clientId = `Ov23li${randomBytes(7).toString("hex")}`;
  const clientSecret = randomBytes(20).toString("hex");
  const codes = new Map<string, PendingCode>();
  /** Redeemed codes and the token each gave, revoked if the code comes back (RFC 6749 §4.1.2). */
  const redeemed = new Map<string, string>();
  const tokens = new Map<string, { userId: number; scope: string[] }>();
  let tokenRequests = 0;
  let down = false;

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const apiUrl = `${baseUrl}/api`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (down) {
      res.writeHead(503, { "content-type": "text/plain" }).end("GitHub is down");
      return;
    }
    const url = new URL(req.url ?? "/", baseUrl);
    const route = `${req.method} ${url.pathname}`;
    if (route === "GET /login/oauth/authorize") return authorizePage(url.searchParams, res);
    if (route === "POST /login/oauth/authorize") return approve(new URLSearchParams(await readBody(req)), res);
    if (route === "POST /login/oauth/access_token") return accessToken(req, res);
    if (route === "GET /api/user" || route === "GET /api/user/emails") return api(req, url.pathname, res);
    res.writeHead(404, { "content-type": "text/plain" }).end("Not Found");
  }

  /** Checks an authorize request; answers (an error page or redirect) and returns null when it is refused. */
  function checkAuthorizeRequest(params: URLSearchParams, res: ServerResponse): { redirectUri: string } | null {
    if (params.get("client_id") !== clientId) {
      page(res, 404, "<p>Not Found: no OAuth app with this client_id.</p>");
      return null;
    }
    const given = params.get("redirect_uri");
    if (given !== null && !options.redirectUris.includes(given)) {
      // GitHub sends the browser to the app's registered callback URL with the error.
      redirect(res, options.redirectUris[0], {
        error: "redirect_uri_mismatch",
        error_description: "The redirect_uri MUST match the registered callback URL for this application.",
        error_uri: DOCS,
        state: params.get("state"),
      });
      return null;
    }
    const challenge = params.get("code_challenge");
    if (challenge !== null && (params.get("code_challenge_method") !== "S256" || !/^[\w-]{43}$/.test(challenge))) {
      page(res, 400, "<p>code_challenge_method must be S256, with a 43-character code_challenge.</p>");
      return null;
    }
    return { redirectUri: given ?? options.redirectUris[0] };
  }

  function authorizePage(params: URLSearchParams, res: ServerResponse, problem?: string): void {
    if (!checkAuthorizeRequest(params, res)) return;
    const hidden = [...params]
      .filter(([name]) => name !== "login")
      .map(([name, value]) => `<input type="hidden" name="${htmlEscape(name)}" value="${htmlEscape(value)}">`)
      .join("\n");
    page(
      res,
      200,
      `<h1>Authorize application</h1>
${problem ? `<p class="error">${htmlEscape(problem)}</p>` : ""}
<form method="post" action="/login/oauth/authorize">
${hidden}
<label>Username or user id <input type="text" name="login" value="${htmlEscape(params.get("login") ?? "")}" autofocus></label>
<button type="submit" name="authorize" value="1">Authorize</button>
<button type="submit" name="authorize" value="0">Cancel</button>
</form>`,
    );
  }

  function approve(form: URLSearchParams, res: ServerResponse): void {
    const checked = checkAuthorizeRequest(form, res);
    if (!checked) return;
    const state = form.get("state");
    if (form.get("authorize") !== "1") {
      redirect(res, checked.redirectUri, {
        error: "access_denied",
        error_description: "The user has denied your application access.",
        error_uri:
          "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied",
        state,
      });
      return;
    }
    const login = (form.get("login") ?? "").trim();
    const user = [...users.values()].find(
      (u) => u.login.toLowerCase() === login.toLowerCase() || String(u.id) === login,
    );
    if (!user) {
      const params = new URLSearchParams(form);
      params.delete("authorize");
      authorizePage(params, res, `No user "${login}".`);
      return;
    }
    const code = randomBytes(10).toString("hex");
    codes.set(code, {
      clientId,
      redirectUri: form.get("redirect_uri"),
      scope: (form.get("scope") ?? "").split(/[\s,]+/).filter(Boolean),
      challenge: form.get("code_challenge"),
      userId: user.id,
      expiresAt: Date.now() + CODE_LIFETIME_MS,
    });
    redirect(res, checked.redirectUri, { code, state });
  }

  async function accessToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    tokenRequests++;
    const raw = await readBody(req);
    const body = (req.headers["content-type"] ?? "").includes("json")
      ? new URLSearchParams(JSON.parse(raw) as Record<string, string>)
      : new URLSearchParams(raw);
    const wantsJson = (req.headers.accept ?? "").includes("application/json");
    // GitHub answers every failure here with HTTP 200 and an `error` field, in the same format as a success.
    const fail = (error: keyof typeof TOKEN_ERRORS) =>
      tokenAnswer(res, wantsJson, { error, error_description: TOKEN_ERRORS[error], error_uri: DOCS });

    const basic = basicCredentials(req.headers.authorization);
    const id = basic?.id ?? body.get("client_id");
    const secret = basic?.secret ?? body.get("client_secret");
    if (id !== clientId || secret === null || !sameText(secret, clientSecret))
      return fail("incorrect_client_credentials");

    const code = body.get("code") ?? "";
    const pending = codes.get(code);
    codes.delete(code);
    if (!pending || pending.clientId !== id) {
      const issued = redeemed.get(code);
      if (issued) tokens.delete(issued);
      return fail("bad_verification_code");
    }
    if (pending.expiresAt <= Date.now()) return fail("bad_verification_code");
    const redirectUri = body.get("redirect_uri");
    if (pending.redirectUri !== null && redirectUri !== pending.redirectUri) return fail("redirect_uri_mismatch");
    if (pending.challenge !== null) {
      const verifier = body.get("code_verifier") ?? "";
      // RFC 7636 §4.1: 43 to 128 unreserved characters; §4.6: BASE64URL(SHA256(verifier)) == challenge.
      const ok =
        /^[A-Za-z0-9\-._~]{43,128}$/.test(verifier) &&
        sameText(createHash("sha256").update(verifier).digest("base64url"), pending.challenge);
      // GitHub does not document its answer to a wrong verifier; this is the error it gives for a bad code.
      if (!ok) return fail("bad_verification_code");
    }
    const token = `gho_${randomBytes(18).toString("base64url").replace(/[-_]/g, "0")}`;
    tokens.set(token, { userId: pending.userId, scope: pending.scope });
    redeemed.set(code, token);
    tokenAnswer(res, wantsJson, { access_token: token, token_type: "bearer", scope: pending.scope.join(",") });
  }

  function api(req: IncomingMessage, path: string, res: ServerResponse) {
    const json = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res
        .writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers })
        .end(JSON.stringify(body));
    };
    const problem = (status: number, message: string): void =>
      json(status, { message, documentation_url: "https://docs.github.com/rest", status: String(status) });

    // GitHub refuses API requests without a User-Agent (Node's fetch sends one).
    if (!req.headers["user-agent"]) return problem(403, "Request forbidden by administrative rules.");
    const match = /^(?:bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    if (!match) return problem(401, "Requires authentication");
    const grant = tokens.get(match[1]);
    const user = grant && users.get(grant.userId);
    if (!grant || !user) return problem(401, "Bad credentials");
    const scopes = { "x-oauth-scopes": grant.scope.join(", ") };

    if (path === "/api/user") {
      const publicEmail = user.emails.find((e) => e.visibility === "public")?.email ?? null;
      return json(
        200,
        {
          login: user.login,
          id: user.id,
          node_id: Buffer.from(`04:User${user.id}`).toString("base64"),
          avatar_url: `https://avatars.githubusercontent.com/u/${user.id}?v=4`,
          url: `https://api.github.com/users/${user.login}`,
          html_url: `https://github.com/${user.login}`,
          type: "User",
          site_admin: false,
          name: user.name ?? null,
          company: null,
          blog: "",
          location: null,
          email: user.email === undefined ? publicEmail : user.email,
          bio: null,
          public_repos: 0,
          followers: 0,
          following: 0,
          created_at: "2020-01-01T00:00:00Z",
          updated_at: "2020-01-01T00:00:00Z",
        },
        scopes,
      );
    }
    // /user/emails needs the user:email (or user) scope; without it GitHub answers 404.
    if (!grant.scope.some((s) => s === "user:email" || s === "user")) {
      return json(
        404,
        { message: "Not Found", documentation_url: "https://docs.github.com/rest", status: "404" },
        {
          ...scopes,
          "x-accepted-oauth-scopes": "user, user:email",
        },
      );
    }
    json(
      200,
      user.emails.map((e) => ({
        email: e.email,
        primary: e.primary,
        verified: e.verified,
        visibility: e.visibility ?? null,
      })),
      scopes,
    );
  }

  async function authorize(authorizationUrl: string, userId: number): Promise<URL> {
    const shown = await fetch(authorizationUrl, { redirect: "manual" });
    const landing = shown.headers.get("location");
    if (landing) throw new GitHubAuthorizationRedirectError(new URL(landing));
    const html = await shown.text();
    if (shown.status !== 200) throw new Error(`GitHub answered ${shown.status}: ${html}`);
    // The fields the browser would post: the page's hidden inputs, the login, the Authorize button.
    const form = new URLSearchParams();
    for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
      form.append(htmlUnescape(name), htmlUnescape(value));
    }
    form.set("login", String(userId));
    form.set("authorize", "1");
    const approved = await fetch(new URL("/login/oauth/authorize", baseUrl), {
      method: "POST",
      body: form,
      redirect: "manual",
    });
    const location = approved.headers.get("location");
    if (!location) throw new Error(`GitHub answered ${approved.status}: ${await approved.text()}`);
    const url = new URL(location);
    if (url.searchParams.has("error")) throw new GitHubAuthorizationRedirectError(url);
    return url;
  }

  return {
    baseUrl,
    apiUrl,
    clientId,
    clientSecret,
    users,
    authorize,
    tokenRequests: () => tokenRequests,
    setDown(value) {
      down = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** JSON when asked for (`Accept: application/json`), else form-encoded, GitHub's default. */
function tokenAnswer(res: ServerResponse, json: boolean, body: Record<string, string>): void {
  if (json) res.writeHead(200, { "content-type": "application/json; charset=utf-8" }).end(JSON.stringify(body));
  else
    res
      .writeHead(200, { "content-type": "application/x-www-form-urlencoded; charset=utf-8" })
      .end(new URLSearchParams(body).toString());
}

/** HTTP Basic client credentials (RFC 6749 §2.3.1: each part form-urlencoded before base64). */
function basicCredentials(header: string | undefined): { id: string; secret: string } | null {
  const match = /^basic\s+(\S+)$/i.exec(header ?? "");
  if (!match) return null;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  const part = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
  return { id: part(decoded.slice(0, colon)), secret: part(decoded.slice(colon + 1)) };
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function redirect(res: ServerResponse, to: string, params: Record<string, string | null>): void {
  const url = new URL(to);
  for (const [name, value] of Object.entries(params)) if (value !== null) url.searchParams.set(name, value);
  res.writeHead(302, { location: url.href }).end();
}

function page(res: ServerResponse, status: number, body: string): void {
  res
    .writeHead(status, { "content-type": "text/html; charset=utf-8" })
    .end(
      `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Authorize application</title></head><body>${body}</body></html>`,
    );
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const htmlEscape = (s: string) => s.replace(/[&<>"']/g, (c) => ENTITIES[c]);
const htmlUnescape = (s: string) =>
  s.replace(/&(amp|lt|gt|quot|#39);/g, (e) => Object.keys(ENTITIES).find((k) => ENTITIES[k] === e)!);

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

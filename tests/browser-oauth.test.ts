import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ARTIFACTS,
  buildWebExample,
  chromiumPresent,
  installWebExample,
  launchChromium,
  port,
  refreshCookie,
  serveStatic,
  watchApi,
  watchFailures,
} from "./helpers/browser";
import { type GitHubStandIn, startGitHubStandIn } from "./helpers/github-stand-in";
import { errorCode, gql, LOGIN, REGISTER } from "./helpers/graphql";
import { startOidcProvider, type TestOidcProvider } from "./helpers/oidc-provider";
import { startServer, type TestServer } from "./helpers/server";

// The example page's sign-in with an identity provider
// (examples/web/src/identity-providers.ts) in Chromium against the real
// server, a real OpenID Provider (oidc-provider, its built-in login and consent
// pages) and a GitHub stand-in: the full redirect round trip a person makes,
// account linking from the security page, ACCOUNT_EXISTS, and the page's own
// state check against a crafted callback link (BEHAVIOUR.md §3, §9;
// oauth.graphql).
//
// Hosts. Page and API are both on localhost (the API listens on 127.0.0.1;
// Chromium resolves localhost to it): one site, so the SameSite=Strict refresh
// cookie travels, and it must, since the round trip through the provider
// reloads the page and the access token was only in memory. The redirect URI
// the provider returns to is the page's origin + /oauth/callback, so the static
// server's port comes first, then the provider and the stand-in (which are
// told that redirect URI), then the server.
const PASSWORD = "plum vessel thunder kite orbit";
const REAUTH_MAX_AGE = 300;

const ME = "query { me { email emailVerified } }";
const LINKED_ACCOUNTS = "query { linkedAccounts { id provider email } }";
const START = `mutation ($provider: String!, $redirectUri: String!) {
  startOAuthSignIn(provider: $provider, redirectUri: $redirectUri) { authorizationUrl }
}`;
const FINISH = `mutation ($provider: String!, $code: String!, $state: String!) {
  finishOAuthSignIn(input: { provider: $provider, code: $code, state: $state }) { accessToken user { email } }
}`;

let counter = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${++counter}-${Date.now()}`;

/** One browser profile (a person's), with what it sent to the API and what came back. */
interface Tab {
  context: BrowserContext;
  tab: Page;
  /** Each operation the page sent and the code of its first error (none: undefined). */
  answered: { operation: string; code?: string }[];
  /** The body of every request the page sent to the API. */
  bodies: string[];
  /** The Bearer token of the page's latest request to the API. */
  token(): string;
  failures: string[];
  pageErrors: string[];
  /**
   * What the page last stored under `oauth.pending` before leaving for a
   * provider. Read through a hook, not from sessionStorage: on the provider's
   * pages the tab is at another origin, whose storage is not the page's.
   */
  lastPending(): string | null;
}

describe.skipIf(!chromiumPresent())("the example page's identity-provider sign-in in Chromium", () => {
  let op: TestOidcProvider;
  let gh: GitHubStandIn;
  let api: TestServer;
  /** The API as the page reaches it: on localhost, the page's site. */
  let apiUrl: string;
  let site: Server;
  let dist: string;
  let browser: Browser;
  let origin: string;
  let redirectUri: string;

  beforeAll(async () => {
    installWebExample();
    dist = mkdtempSync(join(tmpdir(), "web-oauth-"));
    site = await serveStatic(dist);
    origin = `http://localhost:${port(site)}`;
    redirectUri = `${origin}/oauth/callback`;
    op = await startOidcProvider({ redirectUris: [redirectUri] });
    gh = await startGitHubStandIn({ redirectUris: [redirectUri] });
    api = await startServer({
      APP_URL: origin,
      REFRESH_TOKEN_TRANSPORT: "cookie",
      CORS_ORIGINS: origin,
      REAUTH_MAX_AGE: String(REAUTH_MAX_AGE),
      OAUTH_PROVIDERS: "acme,github",
      OAUTH_ACME_ISSUER: op.issuer,
      OAUTH_ACME_CLIENT_ID: op.clientId,
      OAUTH_ACME_CLIENT_SECRET: op.clientSecret,
      OAUTH_ACME_NAME: "Acme",
      OAUTH_GITHUB_CLIENT_ID: gh.clientId,
      OAUTH_GITHUB_CLIENT_SECRET: gh.clientSecret,
      OAUTH_GITHUB_BASE_URL: gh.baseUrl,
      OAUTH_GITHUB_API_URL: gh.apiUrl,
      OAUTH_REDIRECT_URIS: redirectUri,
    });
    apiUrl = api.url.replace("//127.0.0.1:", "//localhost:");
    // As deployed: the API's address baked in (a page coming back from a provider has no `?api=`).
    buildWebExample({ VITE_API_URL: `${apiUrl}/graphql` }, dist);
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await op?.stop();
    await gh?.stop();
    site?.close();
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  async function newTab(): Promise<Tab> {
    const context = await browser.newContext();
    const failures = watchFailures(context, apiUrl);
    const traffic = watchApi(context, apiUrl);
    const stored: string[] = [];
    await context.exposeBinding("__pendingStored", (_source, value: string) => void stored.push(value));
    // A string: it runs in the page, where Storage exists (this file is compiled without the DOM's types).
    await context.addInitScript(`{
        const setItem = Storage.prototype.setItem;
        Storage.prototype.setItem = function (key, value) {
          if (key === "oauth.pending") globalThis.__pendingStored(value);
          return setItem.call(this, key, value);
        };
      }`);
    const tab = await context.newPage();
    const pageErrors: string[] = [];
    tab.on("pageerror", (e) => pageErrors.push(e.message));
    return {
      context,
      tab,
      answered: traffic.answered,
      bodies: traffic.bodies,
      token: () => traffic.token,
      failures,
      pageErrors,
      lastPending: () => stored.at(-1) ?? null,
    };
  }

  const shot = (tab: Page, name: string) => tab.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
  const open = async (tab: Page, path = "/") => {
    await tab.goto(`${origin}${path}`);
    await tab.waitForSelector("body[data-ready=true]");
  };
  /** Asks the page who is signed in (its own client, its own token): the email, or null. */
  const me = (tab: Page) => tab.evaluate(() => (globalThis as any).__auth.me() as Promise<string | null>);
  /** What the page keeps in this tab while a provider has the browser (src/identity-providers.ts, PENDING_KEY). */
  const pendingOf = (tab: Page) => tab.evaluate<string | null>("sessionStorage.getItem('oauth.pending')");
  const signedInAs = (tab: Page, who: string) => tab.waitForSelector(`#me-email:has-text("${who}")`);
  /** The code of the latest answer to `operation`, once it has arrived. */
  const lastCode = (t: Tab, operation: string) =>
    expect.poll(() => t.answered.filter((a) => a.operation === operation).at(-1), { timeout: 5_000 });
  const onPage = (url: URL) => url.origin === origin;

  /**
   * A person at the OpenID Provider: its login page (any password; the login is
   * the user's `sub`), then its consent page when it shows one, then back to
   * the page's callback.
   */
  async function throughProvider(tab: Page, sub: string) {
    await tab.waitForURL((url) => url.origin === new URL(op.issuer).origin);
    await tab.fill("input[name=login]", sub);
    await tab.fill("input[name=password]", "any password");
    const back = tab.waitForURL(onPage);
    await tab.click("button[type=submit]");
    const consent = tab.locator("form:not(:has(input[name=login])) button[type=submit]");
    await Promise.race([back, consent.waitFor().then(() => consent.click())]);
    await back;
  }

  /** A person at the GitHub stand-in's authorize page. */
  async function throughGitHub(tab: Page, login: string) {
    await tab.waitForURL((url) => url.origin === new URL(gh.baseUrl).origin);
    await tab.fill("input[name=login]", login);
    const back = tab.waitForURL(onPage);
    await tab.click("button[type=submit]");
    await back;
  }

  it("signs in with Acme through the provider's login and consent pages: a new account, signed in on the page", async () => {
    const sub = unique("acme-new");
    const email = `${sub}@example.com`;
    op.users.set(sub, { sub, email, email_verified: true, name: "Ada Acme" });
    const t = await newTab();
    const { tab } = t;
    await open(tab);
    // The providers the server is configured for, in its order, as buttons.
    await tab.waitForSelector("#oauth-sign-in-section", { state: "visible" });
    expect(await tab.$$eval("#oauth-sign-in-buttons button", (bs) => bs.map((b) => b.textContent))).toEqual([
      "Sign in with Acme",
      "Sign in with GitHub",
    ]);
    await shot(tab, "web-oauth-sign-in-buttons.png");

    const toProvider = tab.waitForRequest((r) => r.isNavigationRequest() && r.url().startsWith(op.issuer));
    await tab.click('button.oauth-sign-in[data-provider="acme"]');
    const authorization = new URL((await toProvider).url());
    await tab.waitForSelector("input[name=login]");
    // The provider was asked to come back to the page's callback, with PKCE; the page kept the state it carried.
    expect(authorization.searchParams.get("redirect_uri")).toBe(redirectUri);
    expect(authorization.searchParams.get("code_challenge_method")).toBe("S256");
    const pending = JSON.parse(t.lastPending()!);
    expect(pending).toEqual({ provider: "acme", state: authorization.searchParams.get("state"), intent: "sign-in" });
    await shot(tab, "web-oauth-provider-login.png");

    await throughProvider(tab, sub);
    await signedInAs(tab, email);
    await lastCode(t, "FinishOAuthSignIn").toMatchObject({ code: undefined });
    // Home, with the provider's code and state gone from the address bar, and the pending state spent.
    expect(tab.url()).toBe(`${origin}/`);
    expect(await pendingOf(tab)).toBeNull();
    expect(await refreshCookie(t.context, apiUrl)).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    await shot(tab, "web-oauth-signed-in.png");

    // The server agrees, with the page's own token: a new account, its email verified as the provider said.
    expect(await me(tab)).toBe(email);
    const r = await gql<{ me: { email: string; emailVerified: boolean } }>(api.url, ME, {}, { token: t.token() });
    expect(r.body.data?.me).toEqual({ email, emailVerified: true });
    // A reload keeps the session (the refresh cookie).
    await open(tab);
    await signedInAs(tab, email);
    expect([...t.failures, ...t.pageErrors]).toEqual([]);
    await t.context.close();
  }, 30_000);

  it("signs in with GitHub through the stand-in's authorize page", async () => {
    const id = 7_000_000 + Math.floor(Math.random() * 1_000_000);
    const login = unique("octo");
    const email = `${login}@example.com`;
    gh.users.set(id, { id, login, name: "Octo Cat", email, emails: [{ email, primary: true, verified: true }] });
    const t = await newTab();
    const { tab } = t;
    await open(tab);
    await tab.click('button.oauth-sign-in[data-provider="github"]');
    await throughGitHub(tab, login);
    await signedInAs(tab, email);
    await lastCode(t, "FinishOAuthSignIn").toMatchObject({ code: undefined });
    expect(tab.url()).toBe(`${origin}/`);
    expect(await me(tab)).toBe(email);
    expect([...t.failures, ...t.pageErrors]).toEqual([]);
    await t.context.close();
  }, 30_000);

  it("links Acme to a password account from the security page, lists it, and unlinks it", async () => {
    const email = `${unique("linker")}@example.com`;
    const sub = unique("acme-link");
    // Another address at the provider: a link does not depend on the emails matching.
    op.users.set(sub, { sub, email: `${sub}@work.example`, email_verified: true });
    expect((await gql(api.url, REGISTER, { email, password: PASSWORD })).body.errors).toBeUndefined();
    const t = await newTab();
    const { tab } = t;
    await open(tab);
    await tab.fill("#login-email", email);
    await tab.fill("#login-password", PASSWORD);
    await tab.click("#login-submit");
    await signedInAs(tab, email);

    await tab.click("#link-security");
    await tab.waitForSelector("#linked-accounts-section", { state: "visible" });
    await tab.waitForSelector("#linked-accounts-empty", { state: "visible" });
    expect(await tab.$$eval("#oauth-link-buttons button", (bs) => bs.map((b) => b.textContent))).toEqual([
      "Link Acme",
      "Link GitHub",
    ]);
    await tab.click('button.oauth-link[data-provider="acme"]');
    await expect
      .poll(() => JSON.parse(t.lastPending() ?? "null"))
      .toMatchObject({
        provider: "acme",
        intent: "link",
      });
    await throughProvider(tab, sub);

    // Back on the security page (a recent sign-in: no "confirm it's you"), the identity listed.
    const item = '#linked-accounts li.linked-account[data-provider="acme"]';
    await tab.waitForSelector(item);
    await lastCode(t, "LinkOAuthAccount").toMatchObject({ code: undefined });
    expect(tab.url()).toBe(`${origin}/security`);
    expect(await tab.textContent(item)).toContain("Acme");
    expect(await tab.textContent(item)).toContain(`${sub}@work.example`);
    expect(await tab.textContent("#linked-accounts-result")).toContain("Acme is linked");
    expect(await tab.isVisible("#reauth-dialog")).toBe(false);
    await shot(tab, "web-oauth-linked.png");
    const linked = await gql<{ linkedAccounts: { provider: string; email: string }[] }>(
      api.url,
      LINKED_ACCOUNTS,
      {},
      { token: t.token() },
    );
    expect(linked.body.data?.linkedAccounts).toEqual([
      expect.objectContaining({ provider: "acme", email: `${sub}@work.example` }),
    ]);

    // The account has a password, so Acme is not its last way in: unlinking goes through.
    await tab.click(`${item} .linked-account-unlink`);
    await tab.waitForSelector("#linked-accounts-empty", { state: "visible" });
    await lastCode(t, "UnlinkOAuthAccount").toMatchObject({ code: undefined });
    expect(await tab.textContent("#linked-accounts-result")).toContain("no longer linked");
    expect(await tab.$$eval("#linked-accounts li", (lis) => lis.length)).toBe(0);
    const after = await gql<{ linkedAccounts: unknown[] }>(api.url, LINKED_ACCOUNTS, {}, { token: t.token() });
    expect(after.body.data?.linkedAccounts).toEqual([]);
    expect([...t.failures, ...t.pageErrors]).toEqual([]);
    await t.context.close();
  }, 30_000);

  it("says ACCOUNT_EXISTS on the callback when the provider's email belongs to an unverified account", async () => {
    // An account registered with a password; its address was never verified (no mail here).
    const email = `${unique("taken")}@example.com`;
    const registered = await gql(api.url, REGISTER, { email, password: PASSWORD });
    expect(registered.body.errors).toBeUndefined();
    const sub = unique("acme-same-email");
    op.users.set(sub, { sub, email, email_verified: true });
    const t = await newTab();
    const { tab } = t;
    await open(tab);
    await tab.click('button.oauth-sign-in[data-provider="acme"]');
    await throughProvider(tab, sub);

    await tab.waitForSelector("#oauth-callback-error:not(:empty)");
    await lastCode(t, "FinishOAuthSignIn").toMatchObject({ code: "ACCOUNT_EXISTS" });
    const said = await tab.textContent("#oauth-callback-error");
    expect(said).toContain("already exists");
    expect(said).toContain("link Acme on the security page");
    expect(await tab.isVisible("#oauth-callback-to-sign-in")).toBe(true);
    expect(tab.url()).toBe(`${origin}/oauth/callback`);
    await shot(tab, "web-oauth-account-exists.png");
    // Not signed in, and the account was not taken over: no linked identity.
    expect(await me(tab)).toBeNull();
    const login = await gql<{ login: { accessToken: string } }>(api.url, LOGIN, { email, password: PASSWORD });
    const linked = await gql(api.url, LINKED_ACCOUNTS, {}, { token: login.body.data!.login.accessToken });
    expect(linked.body.data?.linkedAccounts).toEqual([]);
    expect([...t.failures, ...t.pageErrors]).toEqual([]);
    await t.context.close();
  }, 30_000);

  it("refuses a crafted callback link whose state this tab did not start, sending nothing to the server", async () => {
    // The attacker starts a sign-in of their own and stops at the callback: a real, unused code and state.
    const attacker = unique("acme-attacker");
    op.users.set(attacker, { sub: attacker, email: `${attacker}@example.com`, email_verified: true });
    const started = await gql<{ startOAuthSignIn: { authorizationUrl: string } }>(api.url, START, {
      provider: "acme",
      redirectUri,
    });
    expect(started.body.errors).toBeUndefined();
    const crafted = await op.authorize(started.body.data!.startOAuthSignIn.authorizationUrl, attacker);
    expect(crafted.origin + crafted.pathname).toBe(redirectUri);
    const code = crafted.searchParams.get("code")!;
    const state = crafted.searchParams.get("state")!;
    expect(code).toBeTruthy();

    const t = await newTab();
    const { tab } = t;
    const refused = async () => {
      await tab.waitForSelector("#oauth-callback-error:not(:empty)");
      expect(await tab.textContent("#oauth-callback-error")).toContain("not started from this page");
      expect(tab.url()).toBe(`${origin}/oauth/callback`); // the code left the address bar
      expect(await pendingOf(tab)).toBeNull();
      expect(await me(tab)).toBeNull();
    };
    // The victim opens the link with no sign-in of their own under way.
    await open(tab, `${crafted.pathname}${crafted.search}`);
    await refused();
    await shot(tab, "web-oauth-state-refused.png");
    // And with one under way: the state the tab kept is another one.
    await open(tab);
    await tab.click('button.oauth-sign-in[data-provider="acme"]');
    await tab.waitForSelector("input[name=login]");
    expect(t.lastPending()).not.toBeNull();
    await open(tab, `${crafted.pathname}${crafted.search}`);
    await refused();

    // Neither the code nor the state ever reached the server from the page.
    expect(t.bodies.filter((b) => b.includes(code) || b.includes(state))).toEqual([]);
    expect(t.answered.filter((a) => a.operation === "FinishOAuthSignIn" || a.operation === "LinkOAuthAccount")).toEqual(
      [],
    );
    // The code was still good: what the page refused would have signed the victim in as the attacker.
    const finished = await gql(api.url, FINISH, { provider: "acme", code, state });
    expect(errorCode(finished)).toBeUndefined();
    expect(finished.body.data?.finishOAuthSignIn.user.email).toBe(`${attacker}@example.com`);
    expect([...t.failures, ...t.pageErrors]).toEqual([]);
    await t.context.close();
  }, 30_000);
});

import { mkdirSync, readFileSync } from "node:fs";
import type { IncomingHttpHeaders, Server } from "node:http";
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
  ROOT,
  refreshCookie,
  serveStatic,
  WEB,
  watchFailures,
} from "./helpers/browser";
import { startServer, type TestServer } from "./helpers/server";

const PASSWORD = "plum vessel thunder kite orbit";
/** Short, but long enough that no token expires by itself while the test runs: the clock moves instead. */
const ACCESS_TOKEN_TTL = 60;
/** Past the TTL and the 5 s of clock skew the server tolerates. */
const PAST_EXPIRY = ACCESS_TOKEN_TTL + 5 + 1;
/** What the page's Apollo Client sends on every request (src/main.ts, src/auth-client.ts). */
const CLIENT_HEADERS = ["apollographql-client-name", "apollographql-client-version", "x-request-id"];

it("the README shows the tested Apollo Client set-up verbatim", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const client = readFileSync(join(WEB, "src", "auth-client.ts"), "utf8");
  expect(
    readme.includes(`\`\`\`ts\n${client}\`\`\``),
    "README, Clients: copy examples/web/src/auth-client.ts in full",
  ).toBe(true);
});

interface Received {
  method: string;
  origin: string | undefined;
  headers: IncomingHttpHeaders;
  status: number;
  allowHeaders: string;
}

describe.skipIf(!chromiumPresent())("the example web client (Apollo Client) in Chromium, cookie transport", () => {
  let api: TestServer;
  let site: Server;
  let browser: Browser;
  let origin: string;
  let crossSiteOrigin: string;
  /** Every request the API answered, as its own HTTP server saw it. */
  const received: Received[] = [];

  beforeAll(async () => {
    installWebExample();
    // The page as shipped, against a server that sends no mail (the test default); the mail pages
    // are tests/browser-email.test.ts's.
    site = await serveStatic(buildWebExample());
    // Page and API on 127.0.0.1, different ports: same site, so the SameSite=Strict cookie travels.
    origin = `http://127.0.0.1:${port(site)}`;
    // The same page on localhost: another site than the API on 127.0.0.1.
    crossSiteOrigin = `http://localhost:${port(site)}`;
    api = await startServer({
      REFRESH_TOKEN_TRANSPORT: "cookie",
      CORS_ORIGINS: `${origin},${crossSiteOrigin}`,
      ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL),
    });
    // A second listener on the server's own `request` event: what arrived and how it was answered.
    api.app.server.on("request", (req, res) => {
      res.on("finish", () =>
        received.push({
          method: req.method ?? "",
          origin: req.headers.origin,
          headers: req.headers,
          status: res.statusCode,
          allowHeaders: String(res.getHeader("access-control-allow-headers") ?? ""),
        }),
      );
    });
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    site?.close();
  });

  const pageUrl = (from: string) => `${from}/?api=${encodeURIComponent(`${api.url}/graphql`)}`;
  const open = async (page: Page, from = origin) => {
    await page.goto(pageUrl(from));
    await page.waitForSelector("body[data-ready=true]");
  };
  const auth = (page: Page) => ({
    me: () => page.evaluate(() => (globalThis as any).__auth.me() as Promise<string | null>),
    loadSessions: () => page.evaluate(() => (globalThis as any).__auth.loadSessions() as Promise<void>),
    refresh: () => page.evaluate(() => (globalThis as any).__auth.refresh() as Promise<boolean>),
    refreshes: () => page.evaluate(() => (globalThis as any).__auth.refreshes() as number),
  });
  const cookieOf = (context: BrowserContext) => refreshCookie(context, api.url);

  it("registers, refreshes silently, keeps two tabs signed in, lists sessions and signs out", async () => {
    const context = await browser.newContext();
    const failures = watchFailures(context, api.url);
    const tab = await context.newPage();
    await open(tab);
    expect(await tab.isVisible("#register-form")).toBe(true);

    const email = `browser.${Date.now()}@example.com`;
    await tab.fill("#register-email", email);
    await tab.fill("#register-password", PASSWORD);
    await tab.click("#register-submit");
    await tab.waitForSelector(`#me-email:has-text("${email}")`);
    // The refresh token is an HttpOnly cookie: in the jar, invisible to scripts.
    expect(await cookieOf(context)).toMatchObject({
      httpOnly: true,
      secure: true,
      sameSite: "Strict",
      path: "/graphql",
    });
    expect(await tab.evaluate(() => (globalThis as any).document.cookie)).toBe("");
    mkdirSync(ARTIFACTS, { recursive: true });
    await tab.screenshot({ path: join(ARTIFACTS, "web-signed-in.png"), fullPage: true });

    // The server's clock passes the access token's expiry: `me` gets EXPIRED, refreshes through the cookie, retries.
    api.clock.advance(PAST_EXPIRY);
    let before = await auth(tab).refreshes();
    expect(await auth(tab).me()).toBe(email);
    expect(await auth(tab).refreshes()).toBe(before + 1);

    // Two operations expire at once: they share one refresh and both succeed.
    api.clock.advance(PAST_EXPIRY);
    before = await auth(tab).refreshes();
    const [who] = await Promise.all([auth(tab).me(), auth(tab).loadSessions()]);
    expect(who).toBe(email);
    expect(await tab.locator("#sessions li.session.current").count()).toBe(1);
    expect(await auth(tab).refreshes()).toBe(before + 1);

    // A second tab restores the session from the cookie alone.
    const second = await context.newPage();
    await open(second);
    expect(await second.textContent("#me-email")).toBe(email);

    // Both tabs refresh at the same moment (one cookie, presented twice): both stay signed in.
    const [a, b] = await Promise.all([auth(tab).refresh(), auth(second).refresh()]);
    expect([a, b]).toEqual([true, true]);
    expect(await auth(tab).me()).toBe(email);
    expect(await auth(second).me()).toBe(email);
    expect(await auth(tab).refresh()).toBe(true);
    expect(await auth(second).refresh()).toBe(true);

    // Another device signs in through the login form; this tab revokes it from the sessions list.
    const device = await browser.newContext();
    const other = await device.newPage();
    await open(other);
    await other.fill("#login-email", email);
    await other.fill("#login-password", PASSWORD);
    await other.click("#login-submit");
    await other.waitForSelector(`#me-email:has-text("${email}")`);

    await tab.click("#load-sessions");
    await tab.waitForSelector("#sessions li.session >> nth=1");
    expect(await tab.locator("#sessions li.session").count()).toBe(2);
    expect(await tab.locator("#sessions li.session.current").count()).toBe(1);
    await tab.screenshot({ path: join(ARTIFACTS, "web-sessions.png"), fullPage: true });
    await tab.click("#sessions li.session:not(.current) button.revoke");
    await tab.waitForFunction(() => (globalThis as any).document.querySelectorAll("#sessions li.session").length === 1);
    // The revoked device's next operation is refused, its refresh too: signed out, and told so.
    expect(await auth(other).me()).toBeNull();
    expect(await other.isVisible("#login-form")).toBe(true);
    expect(await other.textContent("#error")).toContain("session has ended");
    await device.close();

    await tab.click("#logout");
    await tab.waitForSelector("#register-form", { state: "visible" });
    expect(await auth(tab).me()).toBeNull();
    expect(await cookieOf(context)).toBeUndefined();
    // The other tab's next refresh finds the session over and signs out too.
    expect(await auth(second).refresh()).toBe(false);
    expect(await second.isVisible("#register-form")).toBe(true);
    await context.close();

    // clientAwareness and the custom header crossed CORS on every request, and nothing was refused.
    expect(failures).toEqual([]);
    const fromPage = received.filter((r) => r.origin === origin);
    const posts = fromPage.filter((r) => r.method === "POST");
    expect(posts.length).toBeGreaterThan(15);
    for (const r of posts) {
      expect(r.status).toBe(200);
      expect(r.headers["apollographql-client-name"]).toBe("auth-server-web-example");
      expect(r.headers["apollographql-client-version"]).toBe("1.0.0");
      expect(r.headers["x-request-id"]).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    }
    expect(new Set(posts.map((r) => r.headers["x-request-id"])).size).toBe(posts.length);
    expect(posts.some((r) => r.headers.authorization?.startsWith("Bearer "))).toBe(true);
    // Chromium asked first (a preflight per new set of headers, cached after): every header it asked for was allowed.
    const preflights = fromPage.filter((r) => r.method === "OPTIONS");
    const askedFor = (r: Received) =>
      String(r.headers["access-control-request-headers"])
        .split(",")
        .map((h) => h.trim());
    expect(preflights.flatMap(askedFor)).toEqual(
      expect.arrayContaining([...CLIENT_HEADERS, "authorization", "content-type"]),
    );
    for (const r of preflights) {
      expect(r.status).toBe(204);
      const allowed = r.allowHeaders.split(",").map((h) => h.trim());
      expect(allowed).toEqual(expect.arrayContaining(askedFor(r)));
    }
  }, 60_000);

  it("signs out with a hint when page and API are different sites (localhost vs 127.0.0.1): the cookie never comes back", async () => {
    const context = await browser.newContext();
    const failures = watchFailures(context, api.url);
    const tab = await context.newPage();
    await open(tab, crossSiteOrigin);

    // Register works (the access token comes in the body), but the SameSite=Strict cookie is not stored.
    const email = `cross.site.${Date.now()}@example.com`;
    await tab.fill("#register-email", email);
    await tab.fill("#register-password", PASSWORD);
    await tab.click("#register-submit");
    await tab.waitForSelector(`#me-email:has-text("${email}")`);
    expect(await cookieOf(context)).toBeUndefined();

    // So the first refresh finds no token at all: INVALID_REFRESH_TOKEN, reason MISSING, and the page says why.
    const [response, refreshed] = await Promise.all([
      tab.waitForResponse((r) => r.request().method() === "POST" && !!r.request().postData()?.includes("refreshToken")),
      auth(tab).refresh(),
    ]);
    expect(refreshed).toBe(false);
    expect((await response.json()).errors[0].extensions).toEqual({ code: "INVALID_REFRESH_TOKEN", reason: "MISSING" });
    expect(await tab.isVisible("#register-form")).toBe(true);
    expect(await tab.textContent("#error")).toContain("same site");
    await tab.screenshot({ path: join(ARTIFACTS, "web-cross-site.png"), fullPage: true });
    expect(failures).toEqual([]);
    await context.close();
  });
});

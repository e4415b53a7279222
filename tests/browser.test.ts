import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { extname, join, normalize } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "./helpers/server";

const CHROMIUM = "/usr/bin/chromium";
const WEB = join(__dirname, "..", "examples", "web");
const ARTIFACTS = join(__dirname, "artifacts");
const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };

/** The built example page, served as a static site on its own origin. */
function serveStatic(root: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(new URL(req.url ?? "/", "http://x").pathname).replace(/^(\.\.[/\\])+/, "");
    const file = join(root, path === "/" ? "index.html" : path);
    if (!file.startsWith(root) || !existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const port = (server: Server) => (server.address() as { port: number }).port;

// CI installs Debian's chromium; a developer without it gets a skip, CI a failure.
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs it with apt`);

describe.skipIf(!haveChromium)("the example web client in Chromium (cookie transport)", () => {
  let api: TestServer;
  let site: Server;
  let browser: Browser;
  let pageUrl: string;

  beforeAll(async () => {
    if (!existsSync(join(WEB, "node_modules")))
      execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: WEB, stdio: "inherit" });
    execFileSync("npm", ["run", "build"], { cwd: WEB, stdio: "inherit" });
    site = await serveStatic(join(WEB, "dist"));
    const origin = `http://127.0.0.1:${port(site)}`;
    // Page and API on 127.0.0.1, different ports: same site, so the SameSite=Strict cookie travels.
    api = await startServer({ REFRESH_TOKEN_TRANSPORT: "cookie", CORS_ORIGINS: origin, ACCESS_TOKEN_TTL: "1" });
    pageUrl = `${origin}/?api=${encodeURIComponent(`${api.url}/graphql`)}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    site?.close();
  });

  const open = async (page: Page) => {
    await page.goto(pageUrl);
    await page.waitForSelector("body[data-ready=true]");
  };
  const auth = (page: Page) => ({
    me: () => page.evaluate(() => (globalThis as any).__auth.me() as Promise<string | null>),
    refresh: () => page.evaluate(() => (globalThis as any).__auth.refresh() as Promise<boolean>),
    refreshes: () => page.evaluate(() => (globalThis as any).__auth.refreshes() as number),
  });

  it("registers, refreshes silently, keeps two tabs signed in, lists sessions and signs out", async () => {
    const context = await browser.newContext();
    const tab = await context.newPage();
    await open(tab);
    expect(await tab.isVisible("#register-form")).toBe(true);

    const email = `browser.${Date.now()}@example.com`;
    await tab.fill("#register-email", email);
    await tab.fill("#register-password", "plum vessel thunder kite orbit");
    await tab.click("#register-submit");
    await tab.waitForSelector(`#me-email:has-text("${email}")`);
    // The refresh token is an HttpOnly cookie: in the jar, invisible to scripts.
    const cookies = await context.cookies(`${api.url}/graphql`);
    expect(cookies.find((c) => c.name === "__Secure-refresh_token")).toMatchObject({
      httpOnly: true,
      secure: true,
      sameSite: "Strict",
      path: "/graphql",
    });
    expect(await tab.evaluate(() => (globalThis as any).document.cookie)).toBe("");
    mkdirSync(ARTIFACTS, { recursive: true });
    await tab.screenshot({ path: join(ARTIFACTS, "web-signed-in.png"), fullPage: true });

    // Past the access token's TTL (1 s) and the 5 s skew: `me` refreshes through the cookie and retries.
    await sleep(6_500);
    const before = await auth(tab).refreshes();
    expect(await auth(tab).me()).toBe(email);
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
    await other.fill("#login-password", "plum vessel thunder kite orbit");
    await other.click("#login-submit");
    await other.waitForSelector(`#me-email:has-text("${email}")`);

    await tab.click("#load-sessions");
    await tab.waitForSelector("#sessions li.session >> nth=1");
    expect(await tab.locator("#sessions li.session").count()).toBe(2);
    expect(await tab.locator("#sessions li.session.current").count()).toBe(1);
    await tab.screenshot({ path: join(ARTIFACTS, "web-sessions.png"), fullPage: true });
    await tab.click("#sessions li.session:not(.current) button.revoke");
    await tab.waitForFunction(() => (globalThis as any).document.querySelectorAll("#sessions li.session").length === 1);
    expect(await auth(other).me()).toBeNull();
    expect(await other.isVisible("#login-form")).toBe(true);
    await device.close();

    await tab.click("#logout");
    await tab.waitForSelector("#register-form", { state: "visible" });
    expect(await auth(tab).me()).toBeNull();
    expect(
      (await context.cookies(`${api.url}/graphql`)).find((c) => c.name === "__Secure-refresh_token"),
    ).toBeUndefined();
    // The other tab's next refresh finds the session over and signs out too.
    expect(await auth(second).refresh()).toBe(false);
    expect(await second.isVisible("#register-form")).toBe(true);
    await context.close();
  }, 60_000);
});

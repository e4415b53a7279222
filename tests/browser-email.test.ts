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
import { errorCode, gql, LOGIN, REGISTER } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";
import { mailEnv, type ReceivedMail, type SmtpSink, startSmtpSink } from "./helpers/smtp-sink";

// The example page's mail pages (examples/web/src/email-pages.ts) in Chromium,
// against the real server delivering real mail over SMTP to a sink: the links
// and codes are taken from the mails as a person would.

const PASSWORD = "plum vessel thunder kite orbit";
const NEW_PASSWORD = "quartz meadow lantern drift ember";
/** REAUTH_MAX_AGE, set explicitly: how long a sign-in counts as recent for an email change. */
const REAUTH_MAX_AGE = 300;
const MAIL_TIMEOUT = 15_000;

const REQUEST_PASSWORD_RESET = "mutation ($email: String!) { requestPasswordReset(email: $email) }";
const RESET_PASSWORD =
  "mutation ($token: String!, $password: String!) { resetPassword(input: { token: $token, newPassword: $password }) }";
const VERIFY_EMAIL = "mutation ($token: String!) { verifyEmail(token: $token) }";
const REQUEST_EMAIL_CHANGE = "mutation ($newEmail: String!) { requestEmailChange(newEmail: $newEmail) }";
const CONFIRM_EMAIL_CHANGE = "mutation ($token: String!) { confirmEmailChange(token: $token) }";
const REQUEST_SIGN_IN_EMAIL = "mutation ($email: String!) { requestSignInEmail(email: $email) }";
const SIGN_IN_WITH_EMAIL_LINK =
  "mutation ($token: String!) { signInWithEmailLink(token: $token) { accessToken user { email } } }";
const ME_VERIFIED = "query { me { email emailVerified } }";

let counter = 0;
const newAddress = (prefix: string) => `${prefix}.${process.pid}.${++counter}.${Date.now()}@example.com`;
/** The addresses in a To header, lower-cased ("Name <a@b.c>, d@e.f" → a@b.c, d@e.f). */
const recipients = (m: ReceivedMail) => (m.to.toLowerCase().match(/[^\s<>,;"']+@[^\s<>,;"']+/g) ?? []) as string[];
const tokenOf = (link: string) => new URL(link).searchParams.get("token")!;

describe.skipIf(!chromiumPresent())("the example page's mail pages in Chromium, real SMTP", () => {
  let sink: SmtpSink;
  let api: TestServer;
  let site: Server;
  let dist: string;
  let browser: Browser;
  let origin: string;
  /** Every request from a page to the API, as the API's HTTP server saw it. */
  const received: { origin?: string; referer?: string }[] = [];

  beforeAll(async () => {
    installWebExample();
    sink = await startSmtpSink();
    // The page's origin first: the server's APP_URL (where mailed links point) and CORS need it.
    dist = mkdtempSync(join(tmpdir(), "web-email-"));
    site = await serveStatic(dist);
    origin = `http://127.0.0.1:${port(site)}`;
    api = await startServer({
      ...mailEnv(sink),
      APP_URL: origin,
      REFRESH_TOKEN_TRANSPORT: "cookie",
      CORS_ORIGINS: origin,
      REAUTH_MAX_AGE: String(REAUTH_MAX_AGE),
    });
    api.app.server.on("request", (req) => {
      received.push({ origin: req.headers.origin, referer: req.headers.referer });
    });
    // Built as deployed: the API's address baked in (VITE_API_URL), since a page opened from a mail
    // has no `?api=`. Its own folder, so tests/browser.test.ts may build dist/ at the same time.
    buildWebExample({ VITE_API_URL: `${api.url}/graphql` }, dist);
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await sink?.close();
    site?.close();
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
  /** Opens a page path (or a mailed link) and waits until the page has asked who is signed in. */
  const open = async (page: Page, pathOrUrl = "/") => {
    await page.goto(pathOrUrl.startsWith("http") ? pathOrUrl : `${origin}${pathOrUrl}`);
    await page.waitForSelector("body[data-ready=true]");
  };
  const me = (page: Page) => page.evaluate(() => (globalThis as any).__auth.me() as Promise<string | null>);
  /** The body of every request the context's pages sent to the API. */
  const watchBodies = (context: BrowserContext) => watchApi(context, api.url).bodies;

  /** The next mail to `to` linking to `path` that arrives after `action` ran (a newer token voids older ones). */
  async function mailAfter(to: string, path: string, action: () => Promise<unknown>): Promise<ReceivedMail> {
    const before = new Set(sink.messages);
    await action();
    return sink.waitFor(
      (m) => !before.has(m) && recipients(m).includes(to) && m.text.includes(`${origin}${path}?token=`),
      MAIL_TIMEOUT,
    );
  }

  /** The mail's link to `path`, from its text part; its HTML part links to the same URL. */
  async function linkIn(mail: ReceivedMail, path: string): Promise<string> {
    const links = (mail.text.match(/https?:\/\/[^\s<>"')\]]+/g) ?? []).filter((l) =>
      l.startsWith(`${origin}${path}?token=`),
    );
    expect(new Set(links).size, mail.text).toBe(1);
    const link = links[0]!;
    expect(tokenOf(link)).toMatch(/^[A-Za-z0-9._~-]{22,}$/); // URL-safe, long enough for 128 bits of base64url
    expect(await hrefsIn(mail.html)).toContain(link);
    return link;
  }

  /** The hrefs of the HTML part, as a browser reads them (entities decoded), with no network. */
  async function hrefsIn(html: string): Promise<string[]> {
    const context = await browser.newContext();
    await context.route("**/*", (route) => route.abort());
    const page = await context.newPage();
    await page.setContent(html);
    const hrefs = await page.$$eval("a[href]", (as) => as.map((a) => a.getAttribute("href") ?? ""));
    await context.close();
    return hrefs;
  }

  /** The 6-digit code of a sign-in mail: the only six-digit number in its text outside the link. */
  function codeIn(mail: ReceivedMail): string {
    const codes = mail.text.replace(/https?:\/\/\S+/g, "").match(/\b\d{6}\b/g) ?? [];
    expect(new Set(codes).size, mail.text).toBe(1);
    expect(mail.html).toContain(codes[0]);
    return codes[0]!;
  }

  /** What the server says, asked directly with a sign-in of our own (not the page's). */
  async function emailVerified(email: string, password = PASSWORD): Promise<boolean> {
    const login = await gql<{ login: { accessToken: string } }>(api.url, LOGIN, { email, password });
    const r = await gql<{ me: { emailVerified: boolean } }>(
      api.url,
      ME_VERIFIED,
      {},
      { token: login.body.data!.login.accessToken },
    );
    return r.body.data!.me.emailVerified;
  }

  async function registerDirect(prefix: string) {
    const email = newAddress(prefix);
    const r = await gql<{ register: { accessToken: string } }>(api.url, REGISTER, { email, password: PASSWORD });
    expect(r.body.errors).toBeUndefined();
    return { email, accessToken: r.body.data!.register.accessToken };
  }

  /** Opening a mailed link: the token leaves the address bar and reaches neither the API nor a Referer. */
  async function expectNothingSent(page: Page, bodies: string[], link: string) {
    const url = new URL(link);
    expect(page.url()).toBe(`${url.origin}${url.pathname}`);
    expect(bodies.filter((b) => b.includes(tokenOf(link)))).toEqual([]);
    expect(received.filter((r) => r.referer?.includes(tokenOf(link)))).toEqual([]);
  }

  it("verifies the address from the mailed link, only when the button is pressed; the banner resends", async () => {
    const context = await browser.newContext();
    const failures = watchFailures(context, api.url);
    const bodies = watchBodies(context);
    const tab = await context.newPage();
    await open(tab);

    const email = newAddress("verify");
    const first = await mailAfter(email, "/verify-email", async () => {
      await tab.fill("#register-email", email);
      await tab.fill("#register-password", PASSWORD);
      await tab.click("#register-submit");
      await tab.waitForSelector(`#me-email:has-text("${email}")`);
    });
    // Signed in and not verified: the banner, and `me { emailVerified }` shown.
    expect(await tab.isVisible("#verify-banner")).toBe(true);
    expect(await tab.textContent("#me-verified")).toBe("not verified");
    await shot(tab, "web-email-banner.png");

    // "resend" sends a new link, which voids the first.
    const second = await mailAfter(email, "/verify-email", async () => {
      await tab.click("#verify-resend");
      await tab.waitForSelector(`#verify-resend-result:has-text("${email}")`);
    });
    const voided = await linkIn(first, "/verify-email");
    const link = await linkIn(second, "/verify-email");
    expect(link).not.toBe(voided);

    // Opening the link sends nothing: still unverified, the token still unused.
    await open(tab, link);
    expect(await tab.isVisible("#verify-email-submit")).toBe(true);
    await expectNothingSent(tab, bodies, link);
    expect(await emailVerified(email)).toBe(false);
    await shot(tab, "web-email-verify.png");

    await tab.click("#verify-email-submit");
    await tab.waitForSelector("#verify-email-done", { state: "visible" });
    expect(await emailVerified(email)).toBe(true);
    // Back to the account (no reload): verified, no banner.
    await tab.click("#verify-email-done a");
    await tab.waitForSelector("#signed-in", { state: "visible" });
    expect(await tab.textContent("#me-verified")).toBe("verified");
    expect(await tab.isVisible("#verify-banner")).toBe(false);

    // A used link, and the voided one, say so and offer the way to a new one.
    for (const used of [link, voided]) {
      await open(tab, used);
      await tab.click("#verify-email-submit");
      await tab.waitForSelector("#verify-email-invalid", { state: "visible" });
      expect(await tab.textContent("#verify-email-why")).toContain("expired or was already used");
    }
    await shot(tab, "web-email-verify-used.png");
    expect(failures).toEqual([]);
    await context.close();
  });

  it("resets a forgotten password from the mailed link: the new password signs in, the old one and the old session stop", async () => {
    const { email } = await registerDirect("reset");
    // The "old session": another device signed in with the old password.
    const device = await browser.newContext();
    const old = await device.newPage();
    await open(old);
    await old.fill("#login-email", email);
    await old.fill("#login-password", PASSWORD);
    await old.click("#login-submit");
    await old.waitForSelector(`#me-email:has-text("${email}")`);

    const context = await browser.newContext();
    const failures = watchFailures(context, api.url);
    const bodies = watchBodies(context);
    const tab = await context.newPage();
    await open(tab);
    await tab.click("#link-forgot-password");
    await tab.waitForSelector("#forgot-password-form", { state: "visible" });
    expect(tab.url()).toBe(`${origin}/forgot-password`);

    // An address without an account gets the same answer (and no mail).
    const nobody = newAddress("nobody");
    await tab.fill("#forgot-password-email", nobody);
    await tab.click("#forgot-password-submit");
    await tab.waitForSelector(`#forgot-password-result:has-text("${nobody}")`);
    expect(await tab.textContent("#forgot-password-result")).toContain("If an account exists, we sent a link");

    const mail = await mailAfter(email, "/reset-password", async () => {
      await tab.fill("#forgot-password-email", email);
      await tab.click("#forgot-password-submit");
      await tab.waitForSelector(`#forgot-password-result:has-text("${email}")`);
    });
    expect(await tab.textContent("#forgot-password-result")).toContain("If an account exists, we sent a link");
    await shot(tab, "web-email-forgot-password.png");
    expect(sink.messages.filter((m) => recipients(m).includes(nobody))).toEqual([]);

    const link = await linkIn(mail, "/reset-password");
    await open(tab, link);
    expect(await tab.isVisible("#reset-password-new")).toBe(true);
    await expectNothingSent(tab, bodies, link);
    await shot(tab, "web-email-reset-password.png");

    // A password the policy refuses: said next to the field, and the link still works.
    await tab.fill("#reset-password-new", "password");
    await tab.click("#reset-password-submit");
    await tab.waitForSelector("#reset-password-field-error:not(:empty)");
    expect(await tab.textContent("#reset-password-field-error")).toContain("This password cannot be used");
    expect(await tab.isVisible("#reset-password-form")).toBe(true);
    await shot(tab, "web-email-reset-password-refused.png");

    const notice = sink.waitFor(
      (m) => recipients(m).includes(email) && m !== mail && !m.text.includes("?token="),
      MAIL_TIMEOUT,
    );
    await tab.fill("#reset-password-new", NEW_PASSWORD);
    await tab.click("#reset-password-submit");
    await tab.waitForSelector("#reset-password-done", { state: "visible" });
    expect(await tab.textContent("#reset-password-field-error")).toBe("");
    await shot(tab, "web-email-reset-password-done.png");
    await notice; // "your password was changed"

    // The old password is refused; the new one signs in, in the page.
    expect(errorCode(await gql(api.url, LOGIN, { email, password: PASSWORD }))).toBe("INVALID_CREDENTIALS");
    await tab.click("#reset-password-sign-in");
    await tab.waitForSelector("#login-form", { state: "visible" });
    await tab.fill("#login-email", email);
    await tab.fill("#login-password", NEW_PASSWORD);
    await tab.click("#login-submit");
    await tab.waitForSelector(`#me-email:has-text("${email}")`);

    // The old session ended: its next operation is refused, its refresh too, and it says so.
    expect(await me(old)).toBeNull();
    expect(await old.isVisible("#login-form")).toBe(true);
    expect(await old.textContent("#error")).toContain("session has ended");
    await device.close();

    // The link a second time: used, with the way to a new one.
    await open(tab, link);
    await tab.fill("#reset-password-new", `${NEW_PASSWORD} again`);
    await tab.click("#reset-password-submit");
    await tab.waitForSelector("#reset-password-invalid", { state: "visible" });
    expect(await tab.textContent("#reset-password-why")).toContain("expired or was already used");
    expect(await tab.getAttribute("#reset-password-invalid a", "href")).toBe("/forgot-password");
    expect(failures).toEqual([]);
    await context.close();
  });

  it("signs in with the mailed code, and on another device with the mailed link", async () => {
    const { email } = await registerDirect("code");
    const context = await browser.newContext();
    const failures = watchFailures(context, api.url);
    const tab = await context.newPage();
    await open(tab);
    await tab.click("#link-sign-in-with-email");
    await tab.waitForSelector("#sign-in-with-email-form", { state: "visible" });
    await tab.fill("#sign-in-with-email-email", email);
    const mail = await mailAfter(email, "/sign-in-with-link", async () => {
      await tab.click("#sign-in-with-email-submit");
      await tab.waitForSelector("#code-form", { state: "visible" });
    });
    const code = codeIn(mail);
    await linkIn(mail, "/sign-in-with-link");
    await shot(tab, "web-email-sign-in-code.png");

    // A wrong code is refused (one of the 5 tries), the right one signs in like a login.
    await tab.fill("#code-input", String((Number(code) + 1) % 1_000_000).padStart(6, "0"));
    await tab.click("#code-submit");
    await tab.waitForSelector("#code-error:not(:empty)");
    expect(await tab.textContent("#code-error")).toContain("wrong or has expired");
    await tab.fill("#code-input", code);
    await tab.click("#code-submit");
    await tab.waitForSelector(`#me-email:has-text("${email}")`);
    expect(tab.url()).toBe(`${origin}/`);
    expect(await refreshCookie(context, api.url)).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    // A reload keeps the session: the cookie restores it.
    await open(tab);
    expect(await tab.textContent("#me-email")).toBe(email);

    // The link variant, on another device.
    const device = await browser.newContext();
    const deviceFailures = watchFailures(device, api.url);
    const bodies = watchBodies(device);
    const other = await device.newPage();
    const second = await mailAfter(email, "/sign-in-with-link", () => gql(api.url, REQUEST_SIGN_IN_EMAIL, { email }));
    const link = await linkIn(second, "/sign-in-with-link");
    await open(other, link);
    expect(await other.isVisible("#sign-in-with-link-submit")).toBe(true);
    expect(await other.isVisible("#signed-in")).toBe(false);
    await expectNothingSent(other, bodies, link);
    await shot(other, "web-email-sign-in-link.png");
    await other.click("#sign-in-with-link-submit");
    await other.waitForSelector(`#me-email:has-text("${email}")`);
    expect(await refreshCookie(device, api.url)).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    expect(await me(other)).toBe(email);
    // Single-use.
    expect(errorCode(await gql(api.url, SIGN_IN_WITH_EMAIL_LINK, { token: tokenOf(link) }))).toBe("INVALID_TOKEN");

    expect([...failures, ...deviceFailures]).toEqual([]);
    await device.close();
    await context.close();
  });

  it("a mail scanner opening the links consumes nothing: neither a plain GET nor a browser running the page", async () => {
    // One link of each kind.
    const a = await registerDirect("scan.verify");
    const verify = await linkIn(
      await sink.waitFor(
        (m) => recipients(m).includes(a.email) && m.text.includes(`${origin}/verify-email?token=`),
        MAIL_TIMEOUT,
      ),
      "/verify-email",
    );
    const reset = await linkIn(
      await mailAfter(a.email, "/reset-password", () => gql(api.url, REQUEST_PASSWORD_RESET, { email: a.email })),
      "/reset-password",
    );
    const b = await registerDirect("scan.change");
    const moved = newAddress("scan.moved");
    const change = await linkIn(
      await mailAfter(moved, "/confirm-email-change", () =>
        gql(api.url, REQUEST_EMAIL_CHANGE, { newEmail: moved }, { token: b.accessToken }),
      ),
      "/confirm-email-change",
    );
    const c = await registerDirect("scan.sign-in");
    const signIn = await linkIn(
      await mailAfter(c.email, "/sign-in-with-link", () => gql(api.url, REQUEST_SIGN_IN_EMAIL, { email: c.email })),
      "/sign-in-with-link",
    );
    const links = [verify, reset, change, signIn];

    // A scanner that fetches (the host answers with the page), and one that runs it, as some do.
    const scanner = await browser.newContext();
    const bodies = watchBodies(scanner);
    for (const link of links) {
      const r = await fetch(link);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain("Auth server example");
      const page = await scanner.newPage();
      await open(page, link);
      await page.close();
    }
    await scanner.close();
    expect(bodies.length).toBeGreaterThan(0); // the page did talk to the API (who is signed in?) …
    expect(bodies.filter((body) => links.some((l) => body.includes(tokenOf(l))))).toEqual([]); // … never with a token

    // Every token still works.
    expect((await gql(api.url, VERIFY_EMAIL, { token: tokenOf(verify) })).body).toEqual({
      data: { verifyEmail: true },
    });
    expect((await gql(api.url, RESET_PASSWORD, { token: tokenOf(reset), password: NEW_PASSWORD })).body).toEqual({
      data: { resetPassword: true },
    });
    expect((await gql(api.url, CONFIRM_EMAIL_CHANGE, { token: tokenOf(change) })).body).toEqual({
      data: { confirmEmailChange: true },
    });
    expect(errorCode(await gql(api.url, LOGIN, { email: moved, password: PASSWORD }))).toBeUndefined();
    const signedIn = await gql<{ signInWithEmailLink: { user: { email: string } } }>(api.url, SIGN_IN_WITH_EMAIL_LINK, {
      token: tokenOf(signIn),
    });
    expect(signedIn.body.data?.signInWithEmailLink.user.email).toBe(c.email);
  });

  // Last: it moves the server's clock.
  it("changes the email from the account: a link to the new address confirmed by a button; an old sign-in signs in again first", async () => {
    const context = await browser.newContext();
    const failures = watchFailures(context, api.url);
    const bodies = watchBodies(context);
    const tab = await context.newPage();
    await open(tab);
    const email = newAddress("change");
    await tab.fill("#register-email", email);
    await tab.fill("#register-password", PASSWORD);
    await tab.click("#register-submit");
    await tab.waitForSelector(`#me-email:has-text("${email}")`);

    const moved = newAddress("moved");
    const notice = sink.waitFor((m) => recipients(m).includes(email) && !m.text.includes("?token="), MAIL_TIMEOUT);
    const mail = await mailAfter(moved, "/confirm-email-change", async () => {
      await tab.fill("#change-email-new", moved);
      await tab.click("#change-email-submit");
      await tab.waitForSelector(`#change-email-result:has-text("${moved}")`);
    });
    await notice; // to the old address
    await shot(tab, "web-email-change-requested.png");
    // Nothing changed yet.
    expect(await me(tab)).toBe(email);

    const link = await linkIn(mail, "/confirm-email-change");
    await open(tab, link);
    expect(await tab.isVisible("#confirm-email-change-submit")).toBe(true);
    await expectNothingSent(tab, bodies, link);
    await shot(tab, "web-email-confirm-change.png");
    await tab.click("#confirm-email-change-submit");
    await tab.waitForSelector("#confirm-email-change-done", { state: "visible" });
    await tab.click("#confirm-email-change-done a");
    await tab.waitForSelector(`#me-email:has-text("${moved}")`);
    expect(errorCode(await gql(api.url, LOGIN, { email, password: PASSWORD }))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await gql(api.url, LOGIN, { email: moved, password: PASSWORD }))).toBeUndefined();

    // Past REAUTH_MAX_AGE the sign-in is no longer recent: the page asks to sign in again.
    api.clock.advance(REAUTH_MAX_AGE + 1);
    const next = newAddress("moved.again");
    await tab.fill("#change-email-new", next);
    await tab.click("#change-email-submit");
    await tab.waitForSelector("#change-email-reauth", { state: "visible" });
    expect(await tab.textContent("#change-email-error")).toContain("sign in again");
    await shot(tab, "web-email-change-reauth.png");
    await tab.click("#change-email-reauth");
    await tab.waitForSelector("#login-form", { state: "visible" });
    expect(await tab.inputValue("#login-email")).toBe(moved);
    await tab.fill("#login-password", PASSWORD);
    await tab.click("#login-submit");
    await tab.waitForSelector(`#me-email:has-text("${moved}")`);
    await mailAfter(next, "/confirm-email-change", async () => {
      await tab.fill("#change-email-new", next);
      await tab.click("#change-email-submit");
      await tab.waitForSelector(`#change-email-result:has-text("${next}")`);
    });
    expect(failures).toEqual([]);
    await context.close();
  });
});

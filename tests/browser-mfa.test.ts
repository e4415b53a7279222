import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Secret, TOTP, URI } from "otpauth";
import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SCHEMA_FILE } from "../src/graphql/emit-schema";
import {
  type ApiTraffic,
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
import { errorCode, gql, LOGIN } from "./helpers/graphql";
import { decodePart } from "./helpers/jwt";
import { startServer, type TestServer } from "./helpers/server";
import { mailEnv, type ReceivedMail, type SmtpSink, startSmtpSink } from "./helpers/smtp-sink";

// The example page's second factors and passkeys (examples/web/src/second-factors.ts)
// in Chromium against the real server: a person's path through TOTP with
// recovery codes, passkeys on a virtual authenticator (Chrome DevTools
// Protocol, WebAuthn domain), second-factor sign-in and recent sign-in
// (BEHAVIOUR.md §3, §5, §8; mfa.graphql).
//
// Written before the server has the mfa capability (TOTP, recovery codes,
// verifyMfa and reauthenticate on one branch, passkeys on another): it skips
// until schema/schema.graphql has both verifyMfa and finishPasskeySignIn, then
// runs with no edit.
//
// Hosts. WebAuthn refuses an IP address as the relying party (and
// @simplewebauthn/browser checks the page's host name first), so the page is
// served at http://localhost:PORT with WEBAUTHN_RP_ID=localhost and
// WEBAUTHN_ORIGINS = the page's origin. The refresh cookie is SameSite=Strict,
// so the page must reach the API on the same site: http://localhost:APIPORT
// too (the server listens on 127.0.0.1; Chromium resolves localhost to the
// loopback addresses). Chromium counts http://localhost as secure, so the
// Secure cookie and WebAuthn work without TLS.
const schema = readFileSync(SCHEMA_FILE, "utf8");
const serverHasMfa = schema.includes("verifyMfa") && schema.includes("finishPasskeySignIn");

const PASSWORD = "plum vessel thunder kite orbit";
/** How long a sign-in counts as recent for the security page's changes (set explicitly). */
const REAUTH_MAX_AGE = 300;
const MAIL_TIMEOUT = 15_000;

const VERIFY_MFA_CODE = `mutation ($mfaToken: String!, $code: String!) {
  verifyMfa(input: { mfaToken: $mfaToken, code: $code }) { accessToken }
}`;
const ME_FACTORS = "query { me { email secondFactors } }";
const PASSKEYS = "query { passkeys { id name createdAt lastUsedAt } }";

const recipients = (m: ReceivedMail) => (m.to.toLowerCase().match(/[^\s<>,;"']+@[^\s<>,;"']+/g) ?? []) as string[];
/** The claims of an access token (the page's, read from its requests). */
const claims = (token: string) => decodePart(token, 1) as { sub: string; amr?: string[]; auth_time?: number };

/**
 * TOTP codes as an authenticator app makes them (RFC 6238: SHA-1, 6 digits,
 * 30 s), never one the server saw before: a code is accepted once, so after a
 * code of step n the next one must be of step n + 1 or later. The server takes
 * ±1 step, so the next step's code may be used at once; beyond that, wait.
 */
class Authenticator {
  private lastStep = Number.NEGATIVE_INFINITY;
  private readonly totp: TOTP;
  constructor(secret: string) {
    this.totp = new TOTP({ secret: Secret.fromBase32(secret), algorithm: "SHA1", digits: 6, period: 30 });
  }
  async code(): Promise<string> {
    for (;;) {
      const now = Math.floor(Date.now() / 30_000);
      const step = Math.max(now, this.lastStep + 1);
      if (step <= now + 1) {
        this.lastStep = step;
        return this.totp.generate({ timestamp: step * 30_000 });
      }
      await new Promise((resolve) => setTimeout(resolve, (now + 1) * 30_000 - Date.now() + 50));
    }
  }
  /** A code that is valid for no step near now. */
  wrongCode(): string {
    const near = [-1, 0, 1].map((d) => this.totp.generate({ timestamp: Date.now() + d * 30_000 }));
    let n = Number(near[1]);
    do n = (n + 1) % 1_000_000;
    while (near.includes(String(n).padStart(6, "0")));
    return String(n).padStart(6, "0");
  }
}

describe.skipIf(!chromiumPresent() || !serverHasMfa)("the example page's second factors in Chromium", () => {
  let sink: SmtpSink;
  let api: TestServer;
  /** The API as the page reaches it: on localhost, the page's site. */
  let apiUrl: string;
  let site: Server;
  let dist: string;
  let browser: Browser;
  let origin: string;

  // One person, one device (a browser profile with a platform authenticator), through all the steps
  // below in order: each starts where the previous one left the account.
  let context: BrowserContext;
  let tab: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let failures: string[];
  const pageErrors: string[] = [];
  /** What the page sent to the API and got back; `traffic.token` is its latest Bearer token. */
  let traffic: ApiTraffic;
  const email = `mfa.${process.pid}.${Date.now()}@example.com`;
  let app: Authenticator;
  let recoveryCodes: string[] = [];

  beforeAll(async () => {
    installWebExample();
    sink = await startSmtpSink();
    dist = mkdtempSync(join(tmpdir(), "web-mfa-"));
    site = await serveStatic(dist);
    origin = `http://localhost:${port(site)}`;
    api = await startServer({
      // The mfa capability mails a notice when a factor is added or removed.
      ...mailEnv(sink),
      APP_URL: origin,
      REFRESH_TOKEN_TRANSPORT: "cookie",
      CORS_ORIGINS: origin,
      REAUTH_MAX_AGE: String(REAUTH_MAX_AGE),
      // The defaults (APP_URL's host and origin), set explicitly: what a deployment sets.
      WEBAUTHN_RP_ID: "localhost",
      WEBAUTHN_ORIGINS: origin,
    });
    apiUrl = api.url.replace("//127.0.0.1:", "//localhost:");
    // As deployed: the API's address baked in. Its own folder: the other browser tests build at the same time.
    buildWebExample({ VITE_API_URL: `${apiUrl}/graphql` }, dist);
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });

    context = await browser.newContext();
    failures = watchFailures(context, apiUrl);
    traffic = watchApi(context, apiUrl);
    tab = await context.newPage();
    tab.on("pageerror", (e) => pageErrors.push(e.message));
    // A platform authenticator with user verification (a fingerprint reader, say), answering at once.
    cdp = await context.newCDPSession(tab);
    await cdp.send("WebAuthn.enable");
    ({ authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await sink?.close();
    site?.close();
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  const shot = (name: string) => tab.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
  const open = async (path = "/") => {
    await tab.goto(`${origin}${path}`);
    await tab.waitForSelector("body[data-ready=true]");
  };
  /** Asks the page who is signed in (its own client, its own token): the email, or null. */
  const me = () => tab.evaluate(() => (globalThis as any).__auth.me() as Promise<string | null>);
  /** The page's current access token: the one its `me` just sent. */
  const tokenOfPage = async () => {
    expect(await me()).toBe(email);
    return traffic.token;
  };
  /** A GraphQL result with the page's token, asked directly. */
  const asPage = async <T>(query: string) => {
    const r = await gql<T>(api.url, query, {}, { token: await tokenOfPage() });
    expect(r.body.errors).toBeUndefined();
    return r.body.data!;
  };
  const signedInAs = (who: string) => tab.waitForSelector(`#me-email:has-text("${who}")`);
  const credentials = async () =>
    (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials as {
      isResidentCredential: boolean;
      rpId?: string;
      userHandle?: string;
    }[];
  /** The code of the latest answer to `operation`, once it has arrived. */
  const lastCode = (operation: string) =>
    expect.poll(() => traffic.answered.filter((a) => a.operation === operation).at(-1), { timeout: 5_000 });

  async function signOut() {
    if (!(await tab.isVisible("#logout"))) {
      await tab.click("#security-content a[data-route='']");
      await tab.waitForSelector("#logout", { state: "visible" });
    }
    await tab.click("#logout");
    await tab.waitForSelector("#login-form", { state: "visible" });
    expect(await me()).toBeNull();
  }
  async function passwordStep() {
    await tab.fill("#login-email", email);
    await tab.fill("#login-password", PASSWORD);
    await tab.click("#login-submit");
    await tab.waitForSelector("#mfa-form", { state: "visible" });
    await lastCode("Login").toMatchObject({ code: "MFA_REQUIRED" });
    // The first step is gone, and the password with it.
    expect(await tab.isVisible("#login-form")).toBe(false);
    expect(await tab.inputValue("#login-password")).toBe("");
  }
  async function toSecurityPage() {
    await tab.click("#link-security");
    await tab.waitForSelector("#security-content", { state: "visible" });
    expect(tab.url()).toBe(`${origin}/security`);
    await tab.waitForSelector("#totp-status:not(:empty)");
  }

  it("sets up an authenticator app from the page; then a sign-in asks for its code, or a recovery code", async () => {
    await open();
    await tab.fill("#register-email", email);
    await tab.fill("#register-password", PASSWORD);
    await tab.click("#register-submit");
    await signedInAs(email);
    expect(await refreshCookie(context, apiUrl)).toMatchObject({ httpOnly: true, sameSite: "Strict" });

    await toSecurityPage();
    expect(await tab.textContent("#totp-status")).toBe("Off");
    await tab.click("#totp-start");
    await tab.waitForSelector("#totp-setup", { state: "visible" });
    // The QR code is an image that loaded (the server's SVG as a data: URL), never markup in the page.
    await tab.waitForFunction(
      "document.getElementById('totp-qr').complete && document.getElementById('totp-qr').naturalWidth > 0",
    );
    expect(await tab.getAttribute("#totp-qr", "src")).toMatch(/^data:image\/svg\+xml/);
    expect(await tab.$$eval("#view-security svg", (svgs) => svgs.length)).toBe(0);
    const secret = (await tab.textContent("#totp-secret"))!.replace(/\s+/g, "");
    expect(secret).toMatch(/^[A-Z2-7]+=*$/);
    // The otpauth:// link carries the same secret.
    const uri = URI.parse((await tab.getAttribute("#totp-uri", "href"))!);
    expect(uri).toBeInstanceOf(TOTP);
    expect(uri.secret.base32).toBe(secret);
    await shot("web-mfa-totp-setup.png");
    // Nothing is on before the first code.
    expect((await asPage<{ me: { secondFactors: string[] } }>(ME_FACTORS)).me.secondFactors).toEqual([]);

    app = new Authenticator(secret);
    const notice = sink.waitFor((m) => recipients(m).includes(email) && !m.text.includes("?token="), MAIL_TIMEOUT);
    await tab.fill("#totp-confirm-code", await app.code());
    await tab.click("#totp-confirm-submit");
    await tab.waitForSelector("#recovery-codes", { state: "visible" });
    recoveryCodes = await tab.$$eval("#recovery-codes-list li", (lis) => lis.map((li) => li.textContent ?? ""));
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    await tab.waitForSelector("#totp-status:has-text('On')");
    expect(await tab.isVisible("#totp-setup")).toBe(false);
    expect(await tab.textContent("#totp-secret")).toBe("");
    await shot("web-mfa-recovery-codes.png");
    expect((await asPage<{ me: { secondFactors: string[] } }>(ME_FACTORS)).me.secondFactors).toEqual(["TOTP"]);
    await notice; // "an authenticator app was added"
    // Shown once: "I saved them" takes them off the page.
    await tab.click("#recovery-codes-saved");
    expect(await tab.isVisible("#recovery-codes")).toBe(false);
    expect(await tab.$$eval("#recovery-codes-list li", (lis) => lis.length)).toBe(0);

    // Sign out; the password alone no longer signs in: the page asks for the code.
    await signOut();
    await passwordStep();
    expect(await tab.isVisible("#mfa-code")).toBe(true);
    expect(await tab.isVisible("#mfa-use-recovery")).toBe(true);
    expect(await tab.isVisible("#mfa-passkey")).toBe(false); // no passkey yet
    await shot("web-mfa-code-step.png");
    await tab.fill("#mfa-code", app.wrongCode());
    await tab.click("#mfa-submit");
    await tab.waitForSelector("#mfa-error:not(:empty)");
    await lastCode("VerifyMfa").toMatchObject({ code: "INVALID_CREDENTIALS" });
    expect(await tab.textContent("#mfa-error")).toContain("wrong");
    await tab.fill("#mfa-code", await app.code());
    await tab.click("#mfa-submit");
    await signedInAs(email);
    expect(await tab.isVisible("#mfa-form")).toBe(false);
    expect(claims(await tokenOfPage()).amr).toEqual(expect.arrayContaining(["pwd", "otp"]));

    // A sign-in by mailed code asks for the second factor too; this time a recovery code.
    await signOut();
    await tab.click("#link-sign-in-with-email");
    await tab.fill("#sign-in-with-email-email", email);
    const before = new Set(sink.messages);
    await tab.click("#sign-in-with-email-submit");
    await tab.waitForSelector("#code-form", { state: "visible" });
    const mail = await sink.waitFor(
      (m) => !before.has(m) && recipients(m).includes(email) && m.text.includes("/sign-in-with-link?token="),
      MAIL_TIMEOUT,
    );
    const mailedCode = mail.text.replace(/https?:\/\/\S+/g, "").match(/\b\d{6}\b/)![0];
    await tab.fill("#code-input", mailedCode);
    await tab.click("#code-submit");
    await tab.waitForSelector("#mfa-form", { state: "visible" });
    expect(tab.url()).toBe(`${origin}/`);
    await lastCode("SignInWithEmailCode").toMatchObject({ code: "MFA_REQUIRED" });
    await tab.click("#mfa-use-recovery");
    expect(await tab.textContent("#mfa-code-label")).toBe("Recovery code");
    await tab.fill("#mfa-code", recoveryCodes[0]!);
    await tab.click("#mfa-submit");
    await signedInAs(email);

    // Each recovery code works once.
    const again = await gql(api.url, LOGIN, { email, password: PASSWORD });
    expect(errorCode(again)).toBe("MFA_REQUIRED");
    const { mfaToken, methods } = again.body.errors![0]!.extensions!;
    expect(methods).toEqual(expect.arrayContaining(["TOTP", "RECOVERY_CODE"]));
    expect(errorCode(await gql(api.url, VERIFY_MFA_CODE, { mfaToken, code: recoveryCodes[0] }))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect(failures).toEqual([]);
  }, 60_000);

  it("adds a passkey from the security page; signed out, “Sign in with a passkey” signs in with no email typed", async () => {
    // Signed in a moment ago (recent sign-in): the registration needs no confirmation.
    await toSecurityPage();
    await tab.waitForSelector("#passkeys-empty", { state: "visible" });
    await tab.fill("#passkey-name", "Test laptop");
    await tab.click("#passkey-add-submit");
    await tab.waitForSelector('#passkeys li:has-text("Test laptop")');
    expect(await tab.textContent("#passkeys-result")).toContain("Test laptop");
    expect(await tab.textContent('#passkeys li:has-text("Test laptop")')).toContain("never used");
    expect(await tab.isVisible("#reauth-dialog")).toBe(false);
    await shot("web-mfa-passkeys.png");
    // A discoverable credential for this site, kept by the authenticator.
    const held = await credentials();
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ isResidentCredential: true, rpId: "localhost" });
    const { passkeys } = await asPage<{ passkeys: { name: string; lastUsedAt: string | null }[] }>(PASSKEYS);
    expect(passkeys).toEqual([expect.objectContaining({ name: "Test laptop", lastUsedAt: null })]);
    const factors = (await asPage<{ me: { secondFactors: string[] } }>(ME_FACTORS)).me.secondFactors;
    expect([...factors].sort()).toEqual(["PASSKEY", "TOTP"]);

    await signOut();
    expect(await tab.inputValue("#login-email")).toBe("");
    await tab.click("#passkey-sign-in");
    await signedInAs(email);
    // Two factors at once: no second step.
    await lastCode("FinishPasskeySignIn").toMatchObject({ code: undefined });
    expect(traffic.answered.filter((a) => a.operation === "FinishPasskeySignIn" && a.code === "MFA_REQUIRED")).toEqual(
      [],
    );
    expect(await tab.inputValue("#login-email")).toBe("");
    const amr = claims(await tokenOfPage()).amr ?? [];
    expect(amr.some((m) => m === "hwk" || m === "swk")).toBe(true);
    expect(amr).not.toContain("pwd");
    expect(await refreshCookie(context, apiUrl)).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    const used = await asPage<{ passkeys: { lastUsedAt: string | null }[] }>(PASSKEYS);
    expect(used.passkeys[0]!.lastUsedAt).not.toBeNull();
    expect([...failures, ...pageErrors]).toEqual([]);
  }, 60_000);

  it("a password sign-in offers the passkey as the second factor", async () => {
    await signOut();
    await passwordStep();
    expect(await tab.isVisible("#mfa-passkey")).toBe(true);
    const { methods } = (await gql(api.url, LOGIN, { email, password: PASSWORD })).body.errors![0]!.extensions!;
    expect(methods).toEqual(expect.arrayContaining(["TOTP", "RECOVERY_CODE", "PASSKEY"]));
    await shot("web-mfa-passkey-step.png");
    await tab.click("#mfa-passkey");
    await signedInAs(email);
    await lastCode("VerifyMfa").toMatchObject({ code: undefined });
    const amr = claims(await tokenOfPage()).amr ?? [];
    expect(amr).toContain("pwd");
    expect(amr.some((m) => m === "hwk" || m === "swk")).toBe(true);
    expect([...failures, ...pageErrors]).toEqual([]);
  }, 60_000);

  it("deletes the passkey; the device still offers it, and the server refuses it", async () => {
    await toSecurityPage();
    await tab.waitForSelector('#passkeys li:has-text("Test laptop")');
    await tab.click('#passkeys li:has-text("Test laptop") .passkey-delete');
    await tab.waitForSelector("#passkeys-empty", { state: "visible" });
    expect(await tab.textContent("#passkeys-result")).toContain("deleted");
    expect((await asPage<{ passkeys: unknown[] }>(PASSKEYS)).passkeys).toEqual([]);
    expect((await asPage<{ me: { secondFactors: string[] } }>(ME_FACTORS)).me.secondFactors).toEqual(["TOTP"]);
    expect(await credentials()).toHaveLength(1); // the authenticator knows nothing of the deletion

    await signOut();
    await tab.click("#passkey-sign-in");
    await tab.waitForSelector("#passkey-sign-in-error:not(:empty)");
    await lastCode("FinishPasskeySignIn").toMatchObject({ code: "INVALID_CREDENTIALS" });
    expect(await tab.textContent("#passkey-sign-in-error")).toContain("does not belong to any account");
    expect(await tab.isVisible("#signed-in")).toBe(false);
    expect(await me()).toBeNull();
    await shot("web-mfa-passkey-refused.png");
    // And the password sign-in no longer offers a passkey.
    const { methods } = (await gql(api.url, LOGIN, { email, password: PASSWORD })).body.errors![0]!.extensions!;
    expect(methods).not.toContain("PASSKEY");
    expect([...failures, ...pageErrors]).toEqual([]);
  }, 60_000);

  // Last: it moves the server's clock.
  it("past REAUTH_MAX_AGE, adding a passkey asks for the password, then goes through", async () => {
    // A recovery code this time (a TOTP code might mean waiting for the app's next one).
    await passwordStep();
    await tab.click("#mfa-use-recovery");
    await tab.fill("#mfa-code", recoveryCodes[1]!);
    await tab.click("#mfa-submit");
    await signedInAs(email);
    await toSecurityPage();

    api.clock.advance(REAUTH_MAX_AGE + 1);
    await tab.fill("#passkey-name", "Phone");
    await tab.click("#passkey-add-submit");
    await tab.waitForSelector("#reauth-dialog", { state: "visible" });
    await lastCode("StartPasskeyRegistration").toMatchObject({ code: "REAUTHENTICATION_REQUIRED" });
    expect(await tab.isVisible("#reauth-password")).toBe(true);
    await shot("web-mfa-reauth.png");

    // A wrong password is said so, and the dialog stays.
    await tab.fill("#reauth-password", `${PASSWORD} nope`);
    await tab.click("#reauth-submit");
    await tab.waitForSelector("#reauth-error:not(:empty)");
    await lastCode("Reauthenticate").toMatchObject({ code: "INVALID_CREDENTIALS" });
    expect(await tab.textContent("#reauth-error")).toContain("wrong");
    expect(await tab.isVisible("#reauth-dialog")).toBe(true);

    const signedInBefore = claims(traffic.token).auth_time!;
    await tab.fill("#reauth-password", PASSWORD);
    await tab.click("#reauth-submit");
    // The change runs again by itself: no second click.
    await tab.waitForSelector('#passkeys li:has-text("Phone")');
    expect(await tab.isVisible("#reauth-dialog")).toBe(false);
    await lastCode("Reauthenticate").toMatchObject({ code: undefined });
    await lastCode("FinishPasskeyRegistration").toMatchObject({ code: undefined });
    const { passkeys } = await asPage<{ passkeys: { name: string }[] }>(PASSKEYS);
    expect(passkeys.map((p) => p.name)).toEqual(["Phone"]);
    // The same session, with a newer sign-in time.
    const token = await tokenOfPage();
    expect(claims(token).auth_time!).toBeGreaterThan(signedInBefore);
    expect([...failures, ...pageErrors]).toEqual([]);
  }, 60_000);
});

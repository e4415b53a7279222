import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PasskeyStore } from "../src/db/stores/passkey-store";
import { MAX_PASSKEYS_PER_USER } from "../src/mfa/passkeys";
import { chromiumPresent, launchChromium, port, serveStatic } from "./helpers/browser";
import { runCli } from "./helpers/cli";
import { errorCode, gql, LOGIN, PAYLOAD, register, type Tokens } from "./helpers/graphql";
import { decodePart } from "./helpers/jwt";
import { startServer, TEST_ENV, type TestServer } from "./helpers/server";
import { mailEnv, type SmtpSink, startSmtpSink } from "./helpers/smtp-sink";

// BEHAVIOUR.md §8, passkeys, against Chromium's WebAuthn stack with a CDP
// virtual authenticator: real ceremonies (attestation, assertions, signature
// counters, user verification), no mock. The page is served on `localhost`,
// the RP id; the test drives the API from Node and the WebAuthn API in the page.

const REAUTH_MAX_AGE = 300;
const START_REGISTRATION = "mutation { startPasskeyRegistration { challengeId options } }";
const FINISH_REGISTRATION = `mutation ($input: FinishPasskeyRegistrationInput!) {
  finishPasskeyRegistration(input: $input) { id name createdAt lastUsedAt }
}`;
const PASSKEYS = "query { passkeys { id name createdAt lastUsedAt } }";
const DELETE = "mutation ($id: ID!) { deletePasskey(id: $id) }";
const START_SIGN_IN = "mutation { startPasskeySignIn { challengeId options } }";
const FINISH_SIGN_IN = `mutation ($input: PasskeyResponseInput!) { finishPasskeySignIn(input: $input) { ${PAYLOAD} } }`;

interface Ceremony {
  challengeId: string;
  options: Record<string, any>;
}

/** A browser tab on the RP's origin with one CDP virtual authenticator (an internal platform authenticator by default). */
interface Device {
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
}

describe.skipIf(!chromiumPresent())("passkeys in Chromium with a virtual authenticator", () => {
  let sink: SmtpSink;
  let api: TestServer;
  let site: Server;
  let browser: Browser;
  let origin: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    const root = mkdtempSync(join(tmpdir(), "passkeys-page-"));
    writeFileSync(join(root, "index.html"), "<!doctype html><title>Passkeys</title><p>Relying party page</p>");
    site = await serveStatic(root);
    // WebAuthn needs a secure context and a domain name as RP id: http://localhost is both.
    origin = `http://localhost:${port(site)}`;
    sink = await startSmtpSink();
    api = await startServer({
      ...mailEnv(sink),
      WEBAUTHN_RP_ID: "localhost",
      WEBAUTHN_ORIGINS: origin,
      REAUTH_MAX_AGE: String(REAUTH_MAX_AGE),
    });
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await api?.close();
    await sink?.close();
    site?.close();
  });

  async function device(options: Record<string, unknown> = {}): Promise<Device> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
        ...options,
      },
    });
    return { page, cdp, authenticatorId };
  }

  /** navigator.credentials.create with the server's options, answered as RegistrationResponseJSON. */
  const create = (page: Page, options: Record<string, any>) =>
    page.evaluate(async (json) => {
      const PKC = (globalThis as any).PublicKeyCredential;
      const credential = await (globalThis as any).navigator.credentials.create({
        publicKey: PKC.parseCreationOptionsFromJSON(json),
      });
      return credential.toJSON() as Record<string, any>;
    }, options);

  /** navigator.credentials.get with the server's options (a discoverable sign-in: no allowCredentials). */
  const get = (page: Page, options: Record<string, any>) =>
    page.evaluate(async (json) => {
      const PKC = (globalThis as any).PublicKeyCredential;
      const credential = await (globalThis as any).navigator.credentials.get({
        publicKey: PKC.parseRequestOptionsFromJSON(json),
      });
      return credential.toJSON() as Record<string, any>;
    }, options);

  const call = <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}, token?: string) =>
    gql<T>(api.url, query, variables, token ? { token } : {});

  /** A fresh password sign-in: its `auth_time` is now. */
  async function signIn(user: { email: string; password: string }, second?: Device): Promise<Tokens> {
    const r = await call<{ login: Tokens }>(LOGIN, { email: user.email, password: user.password });
    if (r.body.data?.login) return r.body.data.login;
    // A user with a passkey has a second factor: the device's passkey finishes the sign-in.
    const mfaToken = r.body.errors?.[0]?.extensions?.mfaToken;
    if (second === undefined || typeof mfaToken !== "string") throw new Error(`login failed: ${r.text}`);
    const done = await call<{ verifyMfa: Tokens }>(VERIFY_MFA_PASSKEY, {
      mfaToken,
      passkey: await mfaCeremony(second, mfaToken),
    });
    if (!done.body.data?.verifyMfa) throw new Error(`verifyMfa failed: ${done.text}`);
    return done.body.data.verifyMfa;
  }

  async function registerPasskey(dev: Device, accessToken: string, name?: string) {
    const started = await call<{ startPasskeyRegistration: Ceremony }>(START_REGISTRATION, {}, accessToken);
    const ceremony = started.body.data?.startPasskeyRegistration;
    if (!ceremony) throw new Error(`startPasskeyRegistration failed: ${started.text}`);
    const response = await create(dev.page, ceremony.options);
    const finished = await call(
      FINISH_REGISTRATION,
      { input: { challengeId: ceremony.challengeId, response, ...(name === undefined ? {} : { name }) } },
      accessToken,
    );
    return { ceremony, response, finished };
  }

  /** startPasskeySignIn, then the authenticator's answer; `tamper` changes the options first (a client's own choice). */
  async function assertion(dev: Device, tamper: (options: Record<string, any>) => void = () => {}) {
    const started = await call<{ startPasskeySignIn: Ceremony }>(START_SIGN_IN);
    const ceremony = started.body.data?.startPasskeySignIn;
    if (!ceremony) throw new Error(`startPasskeySignIn failed: ${started.text}`);
    tamper(ceremony.options);
    return { ceremony, response: await get(dev.page, ceremony.options) };
  }

  const finishSignIn = (challengeId: string, response: Record<string, any>) =>
    call<{ finishPasskeySignIn: Tokens }>(FINISH_SIGN_IN, { input: { challengeId, response } });

  async function passkeySignIn(dev: Device) {
    const { ceremony, response } = await assertion(dev);
    return finishSignIn(ceremony.challengeId, response);
  }

  /** A user with one passkey on a new device; the tokens are a fresh sign-in. */
  async function userWithPasskey(name = "Laptop", authenticator: Record<string, unknown> = {}) {
    const user = await register(api.url);
    const dev = await device(authenticator);
    const { finished } = await registerPasskey(dev, user.accessToken, name);
    const passkey = finished.body.data?.finishPasskeyRegistration;
    if (!passkey) throw new Error(`finishPasskeyRegistration failed: ${finished.text}`);
    return { user, dev, passkey };
  }

  const events = (name: string) =>
    api.logs.map((line) => JSON.parse(line)).filter((entry: { event?: string }) => entry.event === name);

  it("registers a discoverable passkey after a recent sign-in, lists it, and mails a notice", async () => {
    const user = await register(api.url);
    const dev = await device();
    // The sign-in is no longer recent: sensitive operations ask for a new one.
    api.clock.advance(REAUTH_MAX_AGE + 6);
    const stale = await call(START_REGISTRATION, {}, user.accessToken);
    expect(errorCode(stale)).toBe("REAUTHENTICATION_REQUIRED");

    const fresh = await signIn(user);
    const { ceremony, finished } = await registerPasskey(dev, fresh.accessToken, "Work laptop");
    // What the browser was asked for: a discoverable credential for this RP, user verification preferred.
    expect(ceremony.options).toMatchObject({
      rp: { id: "localhost", name: "Auth server" },
      user: { name: user.email },
      authenticatorSelection: { residentKey: "required", userVerification: "preferred" },
      attestation: "none",
      excludeCredentials: [],
    });
    const passkey = finished.body.data?.finishPasskeyRegistration;
    expect(passkey).toMatchObject({ name: "Work laptop", lastUsedAt: null });
    // The authenticator holds it as a resident (discoverable) credential.
    const { credentials } = await dev.cdp.send("WebAuthn.getCredentials", { authenticatorId: dev.authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]?.isResidentCredential).toBe(true);

    const list = await call(PASSKEYS, {}, fresh.accessToken);
    expect(list.body.data?.passkeys).toEqual([passkey]);
    const notice = await sink.waitFor((m) => m.to === user.email && /second factor was added/.test(m.subject));
    expect(notice.text).toContain("“Work laptop”");

    // A second registration on the same authenticator is excluded by the browser itself.
    const again = await call<{ startPasskeyRegistration: Ceremony }>(START_REGISTRATION, {}, fresh.accessToken);
    const options = again.body.data?.startPasskeyRegistration.options;
    // CDP speaks base64, WebAuthn's JSON base64url.
    const credentialId = Buffer.from(credentials[0]?.credentialId ?? "", "base64").toString("base64url");
    expect(options?.excludeCredentials).toEqual([expect.objectContaining({ id: credentialId })]);
    await expect(create(dev.page, options ?? {})).rejects.toThrow(/InvalidStateError|excluded|already registered/i);
  });

  it("names a passkey by its date when no name is given, and refuses a bad name", async () => {
    const user = await register(api.url);
    const dev = await device();
    const unnamed = await registerPasskey(dev, user.accessToken);
    expect(unnamed.finished.body.data?.finishPasskeyRegistration.name).toMatch(/^Passkey \d{4}-\d{2}-\d{2}$/);

    const other = await device();
    for (const name of ["", "x".repeat(65), "two\nlines"]) {
      const { finished } = await registerPasskey(other, user.accessToken, name);
      expect([name, errorCode(finished), finished.body.errors?.[0]?.extensions?.field]).toEqual([
        name,
        "BAD_USER_INPUT",
        "name",
      ]);
    }
  });

  it("signs in without an email: a new session whose access token counts two factors", async () => {
    const { user, dev, passkey } = await userWithPasskey("Phone");
    const r = await passkeySignIn(dev);
    const tokens = r.body.data?.finishPasskeySignIn;
    expect(tokens?.user.email).toBe(user.email);
    const claims = decodePart(tokens?.accessToken ?? "", 1);
    expect(claims.sub).toBe(user.user.id);
    expect(claims.amr).toEqual(["hwk", "user", "mfa"]);
    expect(Math.abs(claims.auth_time - api.clock.now().getTime() / 1000)).toBeLessThan(5);
    // A session of its own, usable at once.
    const me = await call("query { me { email } }", {}, tokens?.accessToken);
    expect(me.body.data?.me.email).toBe(user.email);
    const list = await call(PASSKEYS, {}, tokens?.accessToken);
    expect(list.body.data?.passkeys).toEqual([{ ...passkey, lastUsedAt: expect.any(String) }]);
    expect(events("passkey_sign_in").at(-1)).toMatchObject({ outcome: "success", userId: user.user.id });
  });

  it("says swk for a synced passkey (backup eligible)", async () => {
    const { dev } = await userWithPasskey("Synced", { defaultBackupEligibility: true, defaultBackupState: true });
    const r = await passkeySignIn(dev);
    expect(decodePart(r.body.data?.finishPasskeySignIn.accessToken ?? "", 1).amr).toEqual(["swk", "user", "mfa"]);
  });

  it("uses a challenge once: a second finish with the same answer is INVALID_TOKEN", async () => {
    const { dev } = await userWithPasskey();
    const { ceremony, response } = await assertion(dev);
    const [first, second] = await Promise.all([
      finishSignIn(ceremony.challengeId, response),
      finishSignIn(ceremony.challengeId, response),
    ]);
    // Of two at once exactly one wins, and afterwards it stays used.
    expect([errorCode(first) ?? "OK", errorCode(second) ?? "OK"].sort()).toEqual(["INVALID_TOKEN", "OK"]);
    expect(errorCode(await finishSignIn(ceremony.challengeId, response))).toBe("INVALID_TOKEN");
    // Logs never hold the challenge itself.
    expect(api.logs.join("\n")).not.toContain(ceremony.options.challenge);
  });

  it("lets a challenge expire after 5 minutes, and refuses a registration challenge for a sign-in", async () => {
    const { user, dev } = await userWithPasskey();
    const { ceremony, response } = await assertion(dev);
    api.clock.advance(301);
    expect(errorCode(await finishSignIn(ceremony.challengeId, response))).toBe("INVALID_TOKEN");

    const fresh = await signIn(user, dev);
    const registration = await call<{ startPasskeyRegistration: Ceremony }>(START_REGISTRATION, {}, fresh.accessToken);
    const other = await assertion(dev);
    const wrongPurpose = await finishSignIn(
      registration.body.data?.startPasskeyRegistration.challengeId ?? "",
      other.response,
    );
    expect(errorCode(wrongPurpose)).toBe("INVALID_TOKEN");
    expect(errorCode(await finishSignIn("not-a-challenge", other.response))).toBe("INVALID_TOKEN");
    // The sign-in challenge was not touched by those attempts.
    expect(errorCode(await finishSignIn(other.ceremony.challengeId, other.response))).toBeUndefined();
  });

  it("finishes a registration only in the session that started it", async () => {
    const user = await register(api.url);
    const other = await signIn(user);
    const dev = await device();
    const started = await call<{ startPasskeyRegistration: Ceremony }>(START_REGISTRATION, {}, user.accessToken);
    const ceremony = started.body.data?.startPasskeyRegistration as Ceremony;
    const response = await create(dev.page, ceremony.options);
    const input = { challengeId: ceremony.challengeId, response, name: "Key" };
    expect(errorCode(await call(FINISH_REGISTRATION, { input }, other.accessToken))).toBe("INVALID_TOKEN");
    expect(errorCode(await call(FINISH_REGISTRATION, { input }, user.accessToken))).toBeUndefined();
  });

  it("requires user verification for a passwordless sign-in", async () => {
    const { dev } = await userWithPasskey();
    // A client that asks the authenticator not to verify the user: the answer has UV unset.
    const { ceremony, response } = await assertion(dev, (options) => {
      options.userVerification = "discouraged";
    });
    expect(errorCode(await finishSignIn(ceremony.challengeId, response))).toBe("INVALID_CREDENTIALS");
    expect(events("passkey_assertion").at(-1)).toMatchObject({ outcome: "failure", reason: "VERIFICATION_FAILED" });
    // An authenticator that cannot verify the user is refused by the browser before anything reaches the server.
    const { user, dev: verifying } = await userWithPasskey("Verifying");
    const noUv = await device({ hasUserVerification: false, isUserVerified: false });
    const fresh = await signIn(user, verifying);
    const registered = await registerPasskey(noUv, fresh.accessToken, "Presence only");
    expect(errorCode(registered.finished)).toBeUndefined();
    await expect(assertion(noUv)).rejects.toThrow(/NotAllowedError|not allowed/i);
  });

  it("refuses a cloned authenticator (its signature counter goes backwards) and logs it", async () => {
    const { user, dev } = await userWithPasskey("Original");
    expect(errorCode(await passkeySignIn(dev))).toBeUndefined();
    // A copy of the key as it was now, counter included.
    const { credentials } = await dev.cdp.send("WebAuthn.getCredentials", { authenticatorId: dev.authenticatorId });
    const copy = credentials[0];
    expect(copy?.signCount).toBeGreaterThan(0);
    // The original goes on being used: its counter moves past the copy's.
    expect(errorCode(await passkeySignIn(dev))).toBeUndefined();

    const clone = await device();
    await clone.cdp.send("WebAuthn.addCredential", { authenticatorId: clone.authenticatorId, credential: copy! });
    const r = await passkeySignIn(clone);
    expect(errorCode(r)).toBe("INVALID_CREDENTIALS");
    const alarm = events("passkey_clone_suspected").at(-1);
    expect(alarm).toMatchObject({
      level: 40,
      outcome: "failure",
      reason: "SIGN_COUNT_NOT_INCREASED",
      userId: user.user.id,
    });
    // The genuine authenticator still signs in.
    expect(errorCode(await passkeySignIn(dev))).toBeUndefined();
  });

  it("deletes a passkey (recent sign-in), mails a notice, and its sign-ins stop", async () => {
    const { user, dev, passkey } = await userWithPasskey("Old phone");
    const mallory = await userWithPasskey("Mallory's");
    // Another user's passkey, or an unknown id: NOT_FOUND, never FORBIDDEN.
    expect(errorCode(await call(DELETE, { id: passkey.id }, mallory.user.accessToken))).toBe("NOT_FOUND");
    expect(errorCode(await call(DELETE, { id: "00000000-0000-4000-8000-000000000000" }, user.accessToken))).toBe(
      "NOT_FOUND",
    );
    expect(errorCode(await call(DELETE, { id: "nope" }, user.accessToken))).toBe("NOT_FOUND");

    api.clock.advance(REAUTH_MAX_AGE + 6);
    expect(errorCode(await call(DELETE, { id: passkey.id }, user.accessToken))).toBe("REAUTHENTICATION_REQUIRED");
    const fresh = await signIn(user, dev);
    expect((await call(DELETE, { id: passkey.id }, fresh.accessToken)).body.data).toEqual({ deletePasskey: true });
    expect((await call(PASSKEYS, {}, fresh.accessToken)).body.data?.passkeys).toEqual([]);
    const notice = await sink.waitFor((m) => m.to === user.email && /second factor was removed/.test(m.subject));
    expect(notice.text).toContain("“Old phone”");

    // The authenticator still holds the key, but the server no longer knows it.
    expect(errorCode(await passkeySignIn(dev))).toBe("INVALID_CREDENTIALS");
    expect(events("passkey_assertion").at(-1)).toMatchObject({ reason: "UNKNOWN_CREDENTIAL" });
    // Mallory's passkey was not touched.
    expect(errorCode(await passkeySignIn(mallory.dev))).toBeUndefined();
  });

  it("gives other flows (an MFA step, re-authentication) a passkey ceremony bound to a user and a context", async () => {
    const { user, dev, passkey } = await userWithPasskey("For MFA");
    const other = await userWithPasskey("Someone else's");
    const passkeys = api.app.services.passkeys;
    const em = () => api.app.orm.em.fork();
    const client = { ip: "127.0.0.1", userAgent: null };
    const ceremony = async (binding: string) => {
      const started = await passkeys.startAuthentication(em(), {
        userId: user.user.id,
        binding,
        userVerification: "preferred",
      });
      // Only this user's passkeys are offered.
      expect(started.options.allowCredentials?.map((c) => c.id)).toHaveLength(1);
      return { ...started, response: await get(dev.page, started.options as Record<string, any>) };
    };
    const finish = (challengeId: string, response: Record<string, any>, userId: string, binding: string) =>
      passkeys
        .finishAuthentication(em(), { challengeId, response, userId, binding, requireUserVerification: false }, client)
        .catch((error: { code?: string }) => error.code);

    const bound = await ceremony("mfa-challenge-1");
    // Another context, another user, or a plain sign-in cannot finish it: INVALID_TOKEN, and it stays usable.
    expect(await finish(bound.challengeId, bound.response, user.user.id, "mfa-challenge-2")).toBe("INVALID_TOKEN");
    expect(await finish(bound.challengeId, bound.response, other.user.user.id, "mfa-challenge-1")).toBe(
      "INVALID_TOKEN",
    );
    expect(errorCode(await finishSignIn(bound.challengeId, bound.response))).toBe("INVALID_TOKEN");
    expect(await finish(bound.challengeId, bound.response, user.user.id, "mfa-challenge-1")).toEqual({
      userId: user.user.id,
      passkeyId: passkey.id,
      userVerified: true,
      keyMethod: "hwk",
    });

    // A discoverable ceremony (re-authentication) finished for a user whose passkey it is not.
    const { ceremony: open, response } = await assertion(other.dev);
    const reauth = await passkeys
      .finishAuthentication(
        em(),
        { challengeId: open.challengeId, response, userId: user.user.id, requireUserVerification: true },
        client,
      )
      .catch((error: { code?: string }) => error.code);
    expect(reauth).toBe("INVALID_CREDENTIALS");

    expect(await passkeys.hasAny(em(), user.user.id)).toBe(true);
    const removed = await api.app.orm.em.fork().transactional((tx) => passkeys.removeAll(tx, user.user.id));
    expect(removed).toBe(1);
    expect(await passkeys.hasAny(em(), user.user.id)).toBe(false);
    await expect(passkeys.startAuthentication(em(), { userId: user.user.id })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  const VERIFY_MFA_PASSKEY = `mutation ($mfaToken: String!, $passkey: PasskeyResponseInput!) {
    verifyMfa(input: { mfaToken: $mfaToken, passkey: $passkey }) { ${PAYLOAD} }
  }`;
  const START_MFA = "mutation ($mfaToken: String!) { startPasskeyMfa(mfaToken: $mfaToken) { challengeId options } }";
  /** A password sign-in that answers MFA_REQUIRED; its mfaToken and methods. */
  async function mfaLogin(user: { email: string; password: string }) {
    const r = await call(LOGIN, { email: user.email, password: user.password });
    const extensions = r.body.errors?.[0]?.extensions ?? {};
    expect(extensions.code).toBe("MFA_REQUIRED");
    return { mfaToken: extensions.mfaToken as string, methods: extensions.methods as string[] };
  }
  async function mfaCeremony(dev: Device, mfaToken: string) {
    const started = await call<{ startPasskeyMfa: Ceremony }>(START_MFA, { mfaToken });
    const ceremony = started.body.data?.startPasskeyMfa;
    if (!ceremony) throw new Error(`startPasskeyMfa failed: ${started.text}`);
    return { challengeId: ceremony.challengeId, response: await get(dev.page, ceremony.options) };
  }

  it("is a second factor: a password asks for it, and startPasskeyMfa + verifyMfa finish the sign-in", async () => {
    const { user, dev } = await userWithPasskey("Second step");
    const factors = await call("query { me { secondFactors } }", {}, user.accessToken);
    expect(factors.body.data?.me.secondFactors).toEqual(["PASSKEY"]);
    const { mfaToken, methods } = await mfaLogin(user);
    expect(methods).toEqual(["PASSKEY"]);

    const passkey = await mfaCeremony(dev, mfaToken);
    const done = await call<{ verifyMfa: Tokens }>(VERIFY_MFA_PASSKEY, { mfaToken, passkey });
    const tokens = done.body.data?.verifyMfa;
    expect(tokens?.user.id).toBe(user.user.id);
    expect(decodePart(tokens?.accessToken as string, 1).amr).toEqual(["pwd", "hwk", "user", "mfa"]);
    // The mfaToken was used: it starts nothing more.
    expect(errorCode(await call(START_MFA, { mfaToken }))).toBe("INVALID_TOKEN");
  });

  it("binds the MFA ceremony to its mfaToken, and counts a wrong passkey like a wrong code", async () => {
    const { user, dev } = await userWithPasskey("Bound");
    const other = await userWithPasskey("Another account's");
    const first = await mfaLogin(user);
    const second = await mfaLogin(user);
    // A ceremony of the first sign-in cannot finish the second.
    const ofFirst = await mfaCeremony(dev, first.mfaToken);
    expect(errorCode(await call(VERIFY_MFA_PASSKEY, { mfaToken: second.mfaToken, passkey: ofFirst }))).toBe(
      "INVALID_TOKEN",
    );
    // Another account's passkey answering this user's ceremony is a wrong answer; 5 of them kill the mfaToken.
    for (let i = 0; i < 5; i += 1) {
      const started = await call<{ startPasskeyMfa: Ceremony }>(START_MFA, { mfaToken: second.mfaToken });
      const ceremony = started.body.data?.startPasskeyMfa as Ceremony;
      // The other device holds no credential of this user: it answers with its own (a discoverable get).
      const { allowCredentials: _only, ...options } = ceremony.options;
      const response = await get(other.dev.page, options);
      const r = await call(VERIFY_MFA_PASSKEY, {
        mfaToken: second.mfaToken,
        passkey: { challengeId: ceremony.challengeId, response },
      });
      expect(errorCode(r)).toBe("INVALID_CREDENTIALS");
    }
    expect(errorCode(await call(START_MFA, { mfaToken: second.mfaToken }))).toBe("INVALID_TOKEN");
    // The first sign-in's own ceremony still completes it.
    const done = await call<{ verifyMfa: Tokens }>(VERIFY_MFA_PASSKEY, { mfaToken: first.mfaToken, passkey: ofFirst });
    expect(done.body.data?.verifyMfa.user.id).toBe(user.user.id);
  });

  it("renews a sign-in with a passkey (reauthenticate) in the same session", async () => {
    const { user, dev } = await userWithPasskey("Renew");
    const { mfaToken } = await mfaLogin(user);
    const session = (
      await call<{ verifyMfa: Tokens }>(VERIFY_MFA_PASSKEY, {
        mfaToken,
        passkey: await mfaCeremony(dev, mfaToken),
      })
    ).body.data?.verifyMfa as Tokens;
    api.clock.advance(REAUTH_MAX_AGE + 6);
    expect(errorCode(await call(START_REGISTRATION, {}, session.accessToken))).toBe("REAUTHENTICATION_REQUIRED");
    const { ceremony, response } = await assertion(dev);
    const renewed = await call<{ reauthenticate: Tokens }>(
      `mutation ($passkey: PasskeyResponseInput!) { reauthenticate(input: { passkey: $passkey }) { ${PAYLOAD} } }`,
      { passkey: { challengeId: ceremony.challengeId, response } },
      session.accessToken,
    );
    const tokens = renewed.body.data?.reauthenticate as Tokens;
    const before = decodePart(session.accessToken, 1);
    const after = decodePart(tokens.accessToken, 1);
    expect(after.sid).toBe(before.sid);
    expect(after.auth_time).toBeGreaterThan(before.auth_time);
    expect(after.amr).toEqual(["hwk", "user"]);
    expect((await call(START_REGISTRATION, {}, tokens.accessToken)).body.data?.startPasskeyRegistration).toBeTruthy();
  });

  it("is removed by the operator's reset-mfa with the other factors", async () => {
    const { user, dev } = await userWithPasskey("Lost phone");
    const r = await runCli({ ...TEST_ENV, ...mailEnv(sink), DATABASE_URL: api.databaseUrl }, ["reset-mfa", user.email]);
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toMatch(/removed PASSKEY of /);
    expect((await call(PASSKEYS, {}, user.accessToken)).body.data?.passkeys).toEqual([]);
    // A password signs in again without a second step, and the passkey signs in no more.
    expect((await call(LOGIN, { email: user.email, password: user.password })).body.data?.login).toBeTruthy();
    expect(errorCode(await passkeySignIn(dev))).toBe("INVALID_CREDENTIALS");
  });

  it("counts finishPasskeySignIn as a credential operation: at most one per request", async () => {
    const r = await call(
      `mutation { a: finishPasskeySignIn(input: { challengeId: "x", response: {} }) { accessToken }
                  b: finishPasskeySignIn(input: { challengeId: "y", response: {} }) { accessToken } }`,
    );
    expect(r.status).toBe(400);
    expect(errorCode(r)).toBe("GRAPHQL_VALIDATION_FAILED");
  });
});

describe("passkey ceremonies without a browser", () => {
  let api: TestServer;
  beforeAll(async () => {
    api = await startServer({ WEBAUTHN_RP_ID: "localhost", WEBAUTHN_ORIGINS: "http://localhost:5173" });
  });
  afterAll(() => api?.close());

  const start = async () => {
    const r = await gql<{ startPasskeySignIn: Ceremony }>(api.url, START_SIGN_IN);
    return r.body.data?.startPasskeySignIn as Ceremony;
  };
  /** Well-formed, but for no credential the server knows. */
  const stranger = { id: "AAAA", rawId: "AAAA", type: "public-key", response: {} };
  const finish = (challengeId: string, response: Record<string, unknown>) =>
    gql(api.url, FINISH_SIGN_IN, { input: { challengeId, response } });

  it("asks for a discoverable credential with user verification required, for 5 minutes", async () => {
    const { challengeId, options } = await start();
    expect(challengeId).toMatch(/^[0-9a-f-]{36}$/);
    expect(options).toMatchObject({ rpId: "localhost", userVerification: "required", timeout: 300_000 });
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("refuses a malformed answer without using the challenge, and an unknown credential after using it", async () => {
    const { challengeId } = await start();
    const malformed = await finish(challengeId, { id: "AAAA" });
    expect([errorCode(malformed), malformed.body.errors?.[0]?.extensions?.field]).toEqual([
      "BAD_USER_INPUT",
      "response",
    ]);
    expect(errorCode(await finish(challengeId, stranger))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await finish(challengeId, stranger))).toBe("INVALID_TOKEN");
  });

  it("keeps an account to 20 passkeys", async () => {
    const user = await register(api.url);
    const store = new PasskeyStore();
    for (let i = 0; i < MAX_PASSKEYS_PER_USER; i += 1) {
      await store.insert(api.app.orm.em.fork(), {
        id: randomUUID(),
        userId: user.user.id,
        credentialId: `credential-${i}`,
        publicKey: "AAAA",
        signCount: 0,
        transports: ["internal"],
        deviceType: "singleDevice",
        backedUp: false,
        name: `Key ${i}`,
        createdAt: api.clock.now(),
      });
    }
    const list = await gql(api.url, PASSKEYS, {}, { token: user.accessToken });
    expect(list.body.data?.passkeys).toHaveLength(MAX_PASSKEYS_PER_USER);
    const r = await gql(api.url, START_REGISTRATION, {}, { token: user.accessToken });
    expect([errorCode(r), r.body.errors?.[0]?.extensions?.field]).toEqual(["BAD_USER_INPUT", "passkeys"]);
  });

  it("lets maintenance delete finished and expired ceremonies, and keeps live ones", async () => {
    const used = await start();
    await finish(used.challengeId, stranger);
    await start();
    await start();
    api.clock.advance(301);
    const live = await start();
    const report = await api.app.services.maintenance.run(api.app.orm.em.fork());
    expect(report.webauthnChallenges).toBeGreaterThanOrEqual(3);
    const left = await api.sql<{ id: string }>("select id from webauthn_challenges");
    expect(left.map((row) => row.id)).toEqual([live.challengeId]);
  });
});

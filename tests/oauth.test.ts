import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorCode, type GraphQLResponse, gql, LOGIN, me, register } from "./helpers/graphql";
import { decodePart } from "./helpers/jwt";
import {
  type Callback,
  finishOAuth,
  LINKED_ACCOUNTS,
  linkOAuth,
  type Providers,
  providerCallback,
  REDIRECT_URI,
  START_OAUTH,
  startOAuth,
  startProviders,
  throughProvider,
  UNLINK_OAUTH,
} from "./helpers/oauth";
import { startServer, type TestServer } from "./helpers/server";
import { mailEnv, type SmtpSink, startSmtpSink } from "./helpers/smtp-sink";
import { enrollTotp, verifyMfa } from "./helpers/totp";

// BEHAVIOUR.md §9 (and §3, §4, §5, §8 where they speak of providers) through
// the server and real providers: panva's oidc-provider as "acme" (OpenID
// Connect; by default it gives the email only at its userinfo endpoint, so
// the server must call it) and the GitHub stand-in as "github". The
// providers' own login and consent forms are submitted over HTTP here;
// tests/browser-oauth.test.ts clicks through them in Chromium.

const REAUTH_MAX_AGE = 300;
const PASSWORD = "correct horse battery staple";
const RESET_PASSWORD = `mutation ($token: String!, $newPassword: String!) {
  resetPassword(input: { token: $token, newPassword: $newPassword })
}`;

let providers: Providers;
let sink: SmtpSink;
let server: TestServer;
let n = 0;

/** A person at the OpenID provider with a fresh email (or the one given). */
function oidcUser(emailVerified: boolean, email = `oidc.${process.pid}.${++n}@example.com`) {
  const sub = `sub-${process.pid}-${++n}`;
  providers.op.users.set(sub, { sub, email, email_verified: emailVerified, name: "Test Person" });
  return { sub, email };
}
/** A person at the GitHub stand-in whose primary address is `email`. */
function githubUser(email: string | null, verified: boolean) {
  const id = 100_000 + ++n;
  providers.github.users.set(id, {
    id,
    login: `octo${id}`,
    name: "Octo Cat",
    email: null,
    emails: email === null ? [] : [{ email, primary: true, verified, visibility: "private" }],
  });
  return id;
}
/** The caller's linked identities. */
async function linksOf(token: string): Promise<Array<{ id: string; provider: string; email: string | null }>> {
  return (await gql(server.url, LINKED_ACCOUNTS, {}, { token })).body.data?.linkedAccounts ?? [];
}
const freshEmail = () => `local.${process.pid}.${++n}@example.com`;

const claimsOf = (token: string) => decodePart(token, 1) as { sub: string; amr?: string[]; auth_time?: number };
const payloadOf = (r: GraphQLResponse) =>
  r.body.data?.finishOAuthSignIn as { accessToken: string; user: { id: string; email: string } };
const count = async (sql: string, params: unknown[]) =>
  Number((await server.sql<{ n: unknown }>(sql, params))[0]?.n ?? Number.NaN);

async function signUpWithProvider(emailVerified = true) {
  const person = oidcUser(emailVerified);
  const r = await finishOAuth(server.url, await providerCallback(server.url, providers, person.sub));
  const payload = payloadOf(r);
  if (!payload) throw new Error(`provider sign-up failed: ${r.text}`);
  return { ...person, ...payload };
}
/** A password account; verified by setting the column (the mail path is tests/email.test.ts's). */
async function localAccount(verified: boolean, email = freshEmail()) {
  const account = await register(server.url, { email, password: PASSWORD });
  if (verified) await server.sql("update users set email_verified_at = ? where id = ?", [new Date(), account.user.id]);
  return account;
}
/** The next reset-password mail to `to`'s token. */
async function resetTokenFor(to: string): Promise<string> {
  const mail = await sink.waitFor((m) => m.to === to && m.text.includes("/reset-password?token="));
  return /\/reset-password\?token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1] ?? "";
}

beforeAll(async () => {
  providers = await startProviders();
  sink = await startSmtpSink();
  server = await startServer({ ...providers.env, ...mailEnv(sink), REAUTH_MAX_AGE: String(REAUTH_MAX_AGE) });
});
afterAll(async () => {
  await server?.close();
  await sink?.close();
  await providers?.stop();
});

describe("the providers and the start", () => {
  it("lists the configured providers in order", async () => {
    const r = await gql(server.url, "query { oauthProviders { id name } }");
    expect(r.body.data?.oauthProviders).toEqual([
      { id: "acme", name: "Acme" },
      { id: "github", name: "GitHub" },
    ]);
  });

  it("returns an authorization URL with state, PKCE S256 and (OpenID Connect) a nonce, for the allowed redirect URI", async () => {
    const url = await startOAuth(server.url, "acme");
    expect(url.origin).toBe(providers.op.issuer);
    const p = url.searchParams;
    expect(p.get("response_type")).toBe("code");
    expect(p.get("client_id")).toBe(providers.op.clientId);
    expect(p.get("redirect_uri")).toBe(REDIRECT_URI);
    expect(p.get("code_challenge_method")).toBe("S256");
    expect(p.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get("state")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get("nonce")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get("scope")?.split(" ")).toEqual(expect.arrayContaining(["openid", "email"]));
    // Every start its own state, verifier and nonce.
    const other = (await startOAuth(server.url, "acme")).searchParams;
    expect(other.get("state")).not.toBe(p.get("state"));
    expect(other.get("code_challenge")).not.toBe(p.get("code_challenge"));
    expect(other.get("nonce")).not.toBe(p.get("nonce"));

    const github = await startOAuth(server.url, "github");
    expect(github.href.startsWith(`${providers.github.baseUrl}/login/oauth/authorize?`)).toBe(true);
    expect(github.searchParams.get("code_challenge_method")).toBe("S256");
  });

  it("refuses a redirect URI off the list (compared exactly) and an unconfigured provider", async () => {
    for (const redirectUri of [
      `${REDIRECT_URI}/`,
      REDIRECT_URI.toUpperCase(),
      "https://evil.example/cb",
      `${REDIRECT_URI}?x=1`,
    ]) {
      const r = await gql(server.url, START_OAUTH, { provider: "acme", redirectUri });
      expect(errorCode(r)).toBe("BAD_USER_INPUT");
      expect(r.body.errors?.[0]?.extensions?.field).toBe("redirectUri");
    }
    const unknown = await gql(server.url, START_OAUTH, { provider: "google", redirectUri: REDIRECT_URI });
    expect(errorCode(unknown)).toBe("FEATURE_DISABLED");
    const finish = await finishOAuth(server.url, { provider: "google", code: "c", state: "s" });
    expect(errorCode(finish)).toBe("FEATURE_DISABLED");
  });
});

describe("sign-in with an OpenID Connect provider", () => {
  it("signs a new person up (no password, verified as the provider says, email from userinfo), then signs them in", async () => {
    const { sub, email } = oidcUser(true);
    const first = payloadOf(await finishOAuth(server.url, await providerCallback(server.url, providers, sub)));
    expect(first.user.email).toBe(email);
    const claims = claimsOf(first.accessToken);
    expect(claims.amr).toEqual(["acme"]);
    expect(typeof claims.auth_time).toBe("number");
    const [row] = await server.sql<{ password_hash: string | null; email_verified_at: unknown }>(
      "select password_hash, email_verified_at from users where email = ?",
      [email],
    );
    expect(row?.password_hash).toBeNull();
    expect(row?.email_verified_at).not.toBeNull();

    const again = payloadOf(await finishOAuth(server.url, await providerCallback(server.url, providers, sub)));
    expect(again.user.id).toBe(first.user.id);
    expect((await me(server.url, again.accessToken)).body.data?.me.email).toBe(email);
    expect(await count("select count(*) as n from users where email = ?", [email])).toBe(1);
  });

  it("makes an account unverified when the provider does not vouch for the email, and mails it a verification link", async () => {
    const { sub, email } = oidcUser(false);
    const payload = payloadOf(await finishOAuth(server.url, await providerCallback(server.url, providers, sub)));
    const r = await gql(server.url, "query { me { email emailVerified } }", {}, { token: payload.accessToken });
    expect(r.body.data?.me).toEqual({ email, emailVerified: false });
    await sink.waitFor((m) => m.to === email && m.text.includes("/verify-email?token="));
  });

  it("a password-less account: a password login fails like a wrong password; a reset link sets one", async () => {
    const { email } = await signUpWithProvider(true);
    const stranger = await gql(server.url, LOGIN, { email: freshEmail(), password: PASSWORD });
    const attempt = await gql(server.url, LOGIN, { email, password: PASSWORD });
    expect(errorCode(attempt)).toBe("INVALID_CREDENTIALS");
    expect(attempt.body.errors?.[0]?.message).toBe(stranger.body.errors?.[0]?.message);

    await gql(server.url, "mutation ($email: String!) { requestPasswordReset(email: $email) }", { email });
    const token = await resetTokenFor(email);
    const reset = await gql(server.url, RESET_PASSWORD, { token, newPassword: "a brand new long passphrase" });
    expect(reset.body.data?.resetPassword).toBe(true);
    const login = await gql(server.url, LOGIN, { email, password: "a brand new long passphrase" });
    expect(login.body.data?.login.user.email).toBe(email);
  });
});

describe("a provider that puts the email in the ID token", () => {
  it("takes it from there without asking the userinfo endpoint", async () => {
    const own = await startProviders({ emailInIdToken: true });
    const ownServer = await startServer(own.env);
    try {
      const sub = `id-token-${process.pid}-${++n}`;
      own.op.users.set(sub, { sub, email: freshEmail(), email_verified: true });
      const input = await throughProvider(own, await startOAuth(ownServer.url, "acme"), sub);
      // Only the (re-signed) ID token says this address; userinfo would give the other one.
      const fromIdToken = freshEmail();
      own.op.tamperIdToken((claims) => ({ ...claims, email: fromIdToken }));
      const r = await finishOAuth(ownServer.url, input);
      expect(r.body.data?.finishOAuthSignIn.user.email).toBe(fromIdToken);
    } finally {
      await ownServer.close();
      await own.stop();
    }
  });
});

describe("sign-in with GitHub", () => {
  it("signs up with the verified primary address, then signs in by the numeric id whatever the address becomes", async () => {
    const email = freshEmail();
    const id = githubUser(email, true);
    const first = payloadOf(await finishOAuth(server.url, await providerCallback(server.url, providers, id)));
    expect(first.user.email).toBe(email);
    expect(claimsOf(first.accessToken).amr).toEqual(["github"]);
    const linked = await gql(server.url, LINKED_ACCOUNTS, {}, { token: first.accessToken });
    expect(linked.body.data?.linkedAccounts).toEqual([
      { id: expect.any(String), provider: "github", email, createdAt: expect.any(String) },
    ]);

    // GitHub's stable id decides, not the address (which can change hands).
    const user = providers.github.users.get(id);
    if (user) user.emails = [{ email: freshEmail(), primary: true, verified: true }];
    const again = payloadOf(await finishOAuth(server.url, await providerCallback(server.url, providers, id)));
    expect(again.user.id).toBe(first.user.id);
  });

  it("an unverified primary address makes an unverified account; no address at all is refused", async () => {
    const email = freshEmail();
    const unverified = payloadOf(
      await finishOAuth(server.url, await providerCallback(server.url, providers, githubUser(email, false))),
    );
    const r = await gql(server.url, "query { me { emailVerified } }", {}, { token: unverified.accessToken });
    expect(r.body.data?.me.emailVerified).toBe(false);

    const none = await finishOAuth(server.url, await providerCallback(server.url, providers, githubUser(null, false)));
    expect(errorCode(none)).toBe("BAD_USER_INPUT");
  });
});

describe("state, PKCE, nonce and the ID token", () => {
  /** A flow for a verified new person, taken through the provider but not finished. */
  async function pending(): Promise<Callback> {
    return providerCallback(server.url, providers, oidcUser(true).sub);
  }
  async function refusedWithoutTrace(input: Callback) {
    const users = await count("select count(*) as n from users", []);
    const r = await finishOAuth(server.url, input);
    expect(errorCode(r)).toBe("INVALID_TOKEN");
    expect(await count("select count(*) as n from users", [])).toBe(users);
    return r;
  }

  it("a tampered or unknown state is refused before the provider is asked", async () => {
    const input = await pending();
    const before = providers.op.tokenRequests();
    await refusedWithoutTrace({ ...input, state: randomBytes(32).toString("base64url") });
    await refusedWithoutTrace({
      ...input,
      state: `${input.state.slice(0, -1)}A` === input.state ? `${input.state}A` : `${input.state.slice(0, -1)}A`,
    });
    expect(providers.op.tokenRequests()).toBe(before);
    // The real state still works afterwards: the attempts did not spend it.
    expect(payloadOf(await finishOAuth(server.url, input))?.user).toBeDefined();
  });

  it("a replayed state is refused, and so is a replayed code", async () => {
    const input = await pending();
    expect(payloadOf(await finishOAuth(server.url, input))?.user).toBeDefined();
    await refusedWithoutTrace(input);
    // The same code with a new state of ours: the provider refuses the used code.
    const fresh = await startOAuth(server.url, "acme");
    await refusedWithoutTrace({ ...input, state: fresh.searchParams.get("state") ?? "" });
  });

  it("a state for another provider, or past its 10 minutes, is refused", async () => {
    const input = await pending();
    await refusedWithoutTrace({ ...input, provider: "github" });
    server.clock.advance(601);
    try {
      await refusedWithoutTrace(input);
    } finally {
      server.clock.advance(-601);
    }
  });

  it("PKCE: a code exchanged with another flow's state (so another verifier) is refused by the provider", async () => {
    const a = await pending();
    const b = await pending();
    const before = providers.op.tokenRequests();
    await refusedWithoutTrace({ ...a, state: b.state });
    // It reached the token endpoint, and the provider said no: the verifier did not match.
    expect(providers.op.tokenRequests()).toBe(before + 1);
  });

  it.each([
    ["another nonce", (c: Record<string, unknown>) => ({ ...c, nonce: "not-the-nonce" }), {}],
    ["another audience", (c: Record<string, unknown>) => ({ ...c, aud: "some-other-client" }), {}],
    ["another issuer", (c: Record<string, unknown>) => ({ ...c, iss: "https://evil.example" }), {}],
    [
      "an expiry in the past",
      (c: Record<string, unknown>) => ({ ...c, exp: Math.floor(Date.now() / 1000) - 3600 }),
      {},
    ],
    ["a signature by a key not in the provider's JWKS", (c: Record<string, unknown>) => c, { foreignKey: true }],
  ])("an ID token with %s is refused", async (_name, patch, options) => {
    const input = await pending();
    providers.op.tamperIdToken(patch, options);
    try {
      await refusedWithoutTrace(input);
    } finally {
      providers.op.tamperIdToken(null);
    }
  });

  it("puts no state, code or provider answer in the logs", async () => {
    const input = await pending();
    await finishOAuth(server.url, { ...input, state: `${input.state}x` });
    await finishOAuth(server.url, input);
    const logs = server.logs.join("\n");
    expect(logs).not.toContain(input.code);
    expect(logs).not.toContain(input.state);
    expect(logs).toContain('"event":"oauth_sign_in"');
  });
});

describe("linking (BEHAVIOUR.md §9): provider verified × local verified × signed in or not", () => {
  const combos = [
    [true, true],
    [true, false],
    [false, true],
    [false, false],
  ] as const;

  it.each(combos)("signed out, provider verified %s, local verified %s", async (providerVerified, localVerified) => {
    const local = await localAccount(localVerified);
    const { sub } = oidcUser(providerVerified, local.email);
    const r = await finishOAuth(server.url, await providerCallback(server.url, providers, sub));
    if (providerVerified && localVerified) {
      expect(payloadOf(r).user.id).toBe(local.user.id);
      expect(await count("select count(*) as n from linked_accounts where user_id = ?", [local.user.id])).toBe(1);
    } else {
      expect(errorCode(r)).toBe("ACCOUNT_EXISTS");
      expect(r.body.data).toBeNull();
      expect(await count("select count(*) as n from linked_accounts where user_id = ?", [local.user.id])).toBe(0);
      expect(await count("select count(*) as n from sessions where user_id = ?", [local.user.id])).toBe(1);
    }
  });

  it.each(combos)(
    "signed in, provider verified %s, local verified %s: linked",
    async (providerVerified, localVerified) => {
      const local = await localAccount(localVerified);
      // The provider's address need not be the account's: the user proved both just now.
      const { sub } = oidcUser(providerVerified, providerVerified ? local.email : freshEmail());
      const input = await throughProvider(providers, await startOAuth(server.url, "acme", local.accessToken), sub);
      const r = await linkOAuth(server.url, local.accessToken, input);
      expect(r.body.data?.linkOAuthAccount).toMatchObject({ provider: "acme" });
      // From now on the provider signs into this account.
      const signIn = payloadOf(await finishOAuth(server.url, await providerCallback(server.url, providers, sub)));
      expect(signIn.user.id).toBe(local.user.id);
    },
  );

  it("ACCOUNT_EXISTS says the same and nothing more, whoever the account is", async () => {
    const answers: unknown[] = [];
    for (const [providerVerified, localVerified] of [
      [true, false],
      [false, true],
    ]) {
      const local = await localAccount(localVerified as boolean);
      const { sub } = oidcUser(providerVerified as boolean, local.email);
      const r = await finishOAuth(server.url, await providerCallback(server.url, providers, sub));
      expect(r.text).not.toContain(local.email);
      expect(r.text).not.toContain(local.user.id);
      const [error] = r.body.errors ?? [];
      answers.push({ message: error?.message, extensions: error?.extensions });
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(Object.keys((answers[0] as { extensions: object }).extensions)).toEqual(["code"]);
  });

  it("an identity linked to someone else cannot be linked again: ACCOUNT_EXISTS", async () => {
    const owner = await signUpWithProvider(true);
    const other = await localAccount(true);
    const input = await throughProvider(providers, await startOAuth(server.url, "acme", other.accessToken), owner.sub);
    const r = await linkOAuth(server.url, other.accessToken, input);
    expect(errorCode(r)).toBe("ACCOUNT_EXISTS");
    expect(r.text).not.toContain(owner.email);
  });

  it("links only with a flow the same user started, and only after a recent sign-in", async () => {
    const user = await localAccount(true);
    const { sub } = oidcUser(true);
    // Started signed out (a crafted callback link a victim opens while signed in): refused.
    const anonymous = await providerCallback(server.url, providers, sub);
    expect(errorCode(await linkOAuth(server.url, user.accessToken, anonymous))).toBe("INVALID_TOKEN");
    // Started by someone else: refused.
    const other = await localAccount(true);
    const theirs = await throughProvider(providers, await startOAuth(server.url, "acme", other.accessToken), sub);
    expect(errorCode(await linkOAuth(server.url, user.accessToken, theirs))).toBe("INVALID_TOKEN");

    const mine = await throughProvider(providers, await startOAuth(server.url, "acme", user.accessToken), sub);
    server.clock.advance(REAUTH_MAX_AGE + 1);
    try {
      expect(errorCode(await linkOAuth(server.url, user.accessToken, mine))).toBe("REAUTHENTICATION_REQUIRED");
    } finally {
      server.clock.advance(-(REAUTH_MAX_AGE + 1));
    }
    expect((await linkOAuth(server.url, user.accessToken, mine)).body.data?.linkOAuthAccount.provider).toBe("acme");
  });
});

describe("unlinking", () => {
  it("refuses the last way to sign in; allows it once a password (or another identity) remains", async () => {
    const person = await signUpWithProvider(true);
    const [link] = await linksOf(person.accessToken);
    const refused = await gql(server.url, UNLINK_OAUTH, { id: link.id }, { token: person.accessToken });
    expect(errorCode(refused)).toBe("BAD_USER_INPUT");
    expect(refused.body.errors?.[0]?.extensions?.field).toBe("id");

    // A second identity (GitHub) makes the first removable, and then not the second.
    const githubId = githubUser(freshEmail(), true);
    const input = await throughProvider(
      providers,
      await startOAuth(server.url, "github", person.accessToken),
      githubId,
    );
    const second = (await linkOAuth(server.url, person.accessToken, input)).body.data?.linkOAuthAccount;
    expect(second?.provider).toBe("github");
    expect(
      (await gql(server.url, UNLINK_OAUTH, { id: link.id }, { token: person.accessToken })).body.data
        ?.unlinkOAuthAccount,
    ).toBe(true);
    expect(errorCode(await gql(server.url, UNLINK_OAUTH, { id: second?.id }, { token: person.accessToken }))).toBe(
      "BAD_USER_INPUT",
    );
    const left = (await gql(server.url, LINKED_ACCOUNTS, {}, { token: person.accessToken })).body.data?.linkedAccounts;
    expect(left.map((l: { provider: string }) => l.provider)).toEqual(["github"]);
  });

  it("with a password, the only identity may go; someone else's or an unknown id is NOT_FOUND; it needs a recent sign-in", async () => {
    const local = await localAccount(true);
    const { sub } = oidcUser(true, local.email);
    await finishOAuth(server.url, await providerCallback(server.url, providers, sub));
    const [link] = await linksOf(local.accessToken);

    const stranger = await localAccount(true);
    expect(errorCode(await gql(server.url, UNLINK_OAUTH, { id: link.id }, { token: stranger.accessToken }))).toBe(
      "NOT_FOUND",
    );
    expect(errorCode(await gql(server.url, UNLINK_OAUTH, { id: "not-an-id" }, { token: local.accessToken }))).toBe(
      "NOT_FOUND",
    );
    server.clock.advance(REAUTH_MAX_AGE + 1);
    try {
      expect(errorCode(await gql(server.url, UNLINK_OAUTH, { id: link.id }, { token: local.accessToken }))).toBe(
        "REAUTHENTICATION_REQUIRED",
      );
    } finally {
      server.clock.advance(-(REAUTH_MAX_AGE + 1));
    }
    expect(
      (await gql(server.url, UNLINK_OAUTH, { id: link.id }, { token: local.accessToken })).body.data
        ?.unlinkOAuthAccount,
    ).toBe(true);
    expect(await linksOf(local.accessToken)).toEqual([]);
    // The owner hears of both: linked at sign-in without asking, then unlinked.
    await sink.waitFor((m) => m.to === local.email && m.subject.includes("Acme can now sign in"));
    await sink.waitFor((m) => m.to === local.email && m.subject.includes("Acme was unlinked"));
  });
});

describe("second factors and takeovers", () => {
  it("MFA_REQUIRED after the provider when the user has a second factor; verifyMfa completes it with the provider in amr", async () => {
    const person = await signUpWithProvider(true);
    const { app } = await enrollTotp(server.url, server.clock, person.accessToken);
    const r = await finishOAuth(server.url, await providerCallback(server.url, providers, person.sub));
    expect(errorCode(r)).toBe("MFA_REQUIRED");
    const { mfaToken, methods } = (r.body.errors?.[0]?.extensions ?? {}) as { mfaToken: string; methods: string[] };
    expect(methods).toEqual(expect.arrayContaining(["TOTP", "RECOVERY_CODE"]));
    const verified = await verifyMfa(server.url, mfaToken, app.next());
    const token = verified.body.data?.verifyMfa.accessToken ?? "";
    expect(claimsOf(token).sub).toBe(person.user.id);
    expect(claimsOf(token).amr).toEqual(["acme", "otp", "mfa"]);
  });

  it("pre-hijacking: an account made through a provider that did not verify the address loses that identity when its owner resets the password", async () => {
    // The attacker signs up first with the victim's address at a provider that does not verify it.
    const victim = freshEmail();
    const attacker = oidcUser(false, victim);
    const made = payloadOf(await finishOAuth(server.url, await providerCallback(server.url, providers, attacker.sub)));
    expect(made.user.email).toBe(victim);

    // The victim, finding the address taken, resets the password through the mailbox.
    await gql(server.url, "mutation ($email: String!) { requestPasswordReset(email: $email) }", { email: victim });
    const token = await resetTokenFor(victim);
    expect(
      (await gql(server.url, RESET_PASSWORD, { token, newPassword: "the victim's own passphrase" })).body.data
        ?.resetPassword,
    ).toBe(true);

    // The attacker's identity no longer opens the account.
    const again = await finishOAuth(server.url, await providerCallback(server.url, providers, attacker.sub));
    expect(errorCode(again)).toBe("ACCOUNT_EXISTS");
    expect(await count("select count(*) as n from linked_accounts where user_id = ?", [made.user.id])).toBe(0);
  });
});

describe("configuration switches and outages", () => {
  it("with OAUTH_ALLOW_SIGN_UP=false a new person is refused (FEATURE_DISABLED) and a linked one still signs in", async () => {
    const linked = await signUpWithProvider(true);
    const closed = await startServer(
      { ...providers.env, OAUTH_ALLOW_SIGN_UP: "false" },
      server.databaseUrl,
      server.clock,
    );
    try {
      const newcomer = oidcUser(true);
      const refused = await finishOAuth(closed.url, await providerCallback(closed.url, providers, newcomer.sub));
      expect(errorCode(refused)).toBe("FEATURE_DISABLED");
      const ok = payloadOf(await finishOAuth(closed.url, await providerCallback(closed.url, providers, linked.sub)));
      expect(ok.user.id).toBe(linked.user.id);
    } finally {
      await closed.close();
    }
  });

  it("a provider outage answers SERVICE_UNAVAILABLE, and sign-in works again when it is back", async () => {
    const { sub } = oidcUser(true);
    const input = await providerCallback(server.url, providers, sub);
    providers.op.setDown(true);
    try {
      const r = await finishOAuth(server.url, input);
      expect(errorCode(r)).toBe("SERVICE_UNAVAILABLE");
      expect(r.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThanOrEqual(1);
    } finally {
      providers.op.setDown(false);
    }
    expect(
      payloadOf(await finishOAuth(server.url, await providerCallback(server.url, providers, sub))).user,
    ).toBeDefined();
  });

  it("a server that cannot reach the provider at start answers SERVICE_UNAVAILABLE, then recovers by itself", async () => {
    providers.op.setDown(true);
    const fresh = await startServer(providers.env, server.databaseUrl, server.clock);
    try {
      expect(errorCode(await gql(fresh.url, START_OAUTH, { provider: "acme", redirectUri: REDIRECT_URI }))).toBe(
        "SERVICE_UNAVAILABLE",
      );
      providers.op.setDown(false);
      expect((await startOAuth(fresh.url, "acme")).origin).toBe(providers.op.issuer);
    } finally {
      providers.op.setDown(false);
      await fresh.close();
    }
  });
});

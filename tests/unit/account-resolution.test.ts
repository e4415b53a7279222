import { describe, expect, it } from "vitest";
import { oauthConfig } from "../../src/config-oauth";
import {
  decideLink,
  decideSignIn,
  mayUnlink,
  type SignInDecision,
  type SignInFacts,
} from "../../src/oauth/account-resolution";

// BEHAVIOUR.md §9 as tables over the pure rules of src/oauth/account-resolution.ts;
// tests/oauth.test.ts walks the same matrix through the server and a real provider.

const ALICE = "11111111-1111-4111-8111-111111111111";
const BOB = "22222222-2222-4222-8222-222222222222";
const email = "alice@example.com";

describe("which account a provider sign-in reaches", () => {
  type Row = [string, Partial<SignInFacts>, SignInDecision];
  const base: SignInFacts = {
    linkedUserId: null,
    sameEmail: null,
    identity: { email, emailVerified: true },
    allowSignUp: true,
  };
  const rows: Row[] = [
    ["a linked identity signs its user in", { linkedUserId: ALICE }, { action: "sign-in", userId: ALICE }],
    [
      "a linked identity wins over another account with the email it now shows",
      { linkedUserId: ALICE, sameEmail: { id: BOB, emailVerified: true } },
      { action: "sign-in", userId: ALICE },
    ],
    [
      "a linked identity signs in even when the provider no longer vouches for the email",
      { linkedUserId: ALICE, identity: { email, emailVerified: false } },
      { action: "sign-in", userId: ALICE },
    ],
    [
      "provider verified × local verified: linked and signed in",
      { sameEmail: { id: ALICE, emailVerified: true } },
      { action: "link-and-sign-in", userId: ALICE },
    ],
    [
      "provider verified × local unverified: ACCOUNT_EXISTS",
      { sameEmail: { id: ALICE, emailVerified: false } },
      { action: "refuse", reason: "ACCOUNT_EXISTS" },
    ],
    [
      "provider unverified × local verified: ACCOUNT_EXISTS",
      { sameEmail: { id: ALICE, emailVerified: true }, identity: { email, emailVerified: false } },
      { action: "refuse", reason: "ACCOUNT_EXISTS" },
    ],
    [
      "provider unverified × local unverified: ACCOUNT_EXISTS",
      { sameEmail: { id: ALICE, emailVerified: false }, identity: { email, emailVerified: false } },
      { action: "refuse", reason: "ACCOUNT_EXISTS" },
    ],
    ["no account with the email: a new one", {}, { action: "create" }],
    [
      "no account, the email unverified by the provider: a new (unverified) one",
      { identity: { email, emailVerified: false } },
      { action: "create" },
    ],
    ["no account and sign-up switched off", { allowSignUp: false }, { action: "refuse", reason: "SIGN_UP_DISABLED" }],
    [
      "sign-up switched off still signs a linked identity in",
      { allowSignUp: false, linkedUserId: ALICE },
      { action: "sign-in", userId: ALICE },
    ],
    [
      "sign-up switched off still links a verified match",
      { allowSignUp: false, sameEmail: { id: ALICE, emailVerified: true } },
      { action: "link-and-sign-in", userId: ALICE },
    ],
    [
      "no email from the provider: nothing to make an account with",
      { identity: { email: null, emailVerified: false } },
      { action: "refuse", reason: "NO_EMAIL" },
    ],
  ];
  it.each(rows)("%s", (_name, facts, expected) => {
    expect(decideSignIn({ ...base, ...facts })).toEqual(expected);
  });
});

describe("linking an identity to the signed-in user", () => {
  it.each([
    ["not linked to anyone: linked", null, { action: "link" }],
    ["linked to the caller already: nothing to do", ALICE, { action: "already-linked" }],
    ["linked to someone else: ACCOUNT_EXISTS", BOB, { action: "refuse", reason: "ACCOUNT_EXISTS" }],
  ] as const)("%s", (_name, linkedUserId, expected) => {
    expect(decideLink(linkedUserId, ALICE)).toEqual(expected);
  });
});

describe("unlinking leaves a way to sign in", () => {
  it.each([
    ["a password remains", { password: true, passkeys: 0, linkedAccounts: 1 }, true],
    ["a passkey remains", { password: false, passkeys: 1, linkedAccounts: 1 }, true],
    ["another identity remains", { password: false, passkeys: 0, linkedAccounts: 2 }, true],
    ["nothing else: refused", { password: false, passkeys: 0, linkedAccounts: 1 }, false],
  ] as const)("%s", (_name, methods, allowed) => {
    expect(mayUnlink(methods)).toBe(allowed);
  });
});

describe("OAUTH_* configuration", () => {
  const minimal = {
    OAUTH_PROVIDERS: "google,github,acme",
    OAUTH_GOOGLE_CLIENT_ID: "g-id",
    OAUTH_GOOGLE_CLIENT_SECRET: "g-secret",
    OAUTH_GITHUB_CLIENT_ID: "gh-id",
    OAUTH_GITHUB_CLIENT_SECRET: "gh-secret",
    OAUTH_ACME_CLIENT_ID: "a-id",
    OAUTH_ACME_CLIENT_SECRET: "a-secret",
    OAUTH_ACME_ISSUER: "https://login.acme.example/realms/main/",
    OAUTH_REDIRECT_URIS: "https://app.example.com/oauth/callback",
  };

  it("reads presets, names and addresses", () => {
    const config = oauthConfig(minimal, true);
    expect(config.providers.map((p) => [p.id, p.name, p.kind])).toEqual([
      ["google", "Google", "oidc"],
      ["github", "GitHub", "github"],
      ["acme", "Acme", "oidc"],
    ]);
    expect(config.providers[0]).toMatchObject({ issuer: "https://accounts.google.com" });
    expect(config.providers[1]).toMatchObject({ baseUrl: "https://github.com", apiUrl: "https://api.github.com" });
    expect(config.providers[2]).toMatchObject({ issuer: "https://login.acme.example/realms/main" });
    expect(config.redirectUris).toEqual(["https://app.example.com/oauth/callback"]);
    expect(config.allowSignUp).toBe(true);
    expect(oauthConfig({}, true)).toEqual({ providers: [], redirectUris: [], allowSignUp: true });
  });

  it.each([
    ["a provider without its client id", { OAUTH_ACME_CLIENT_ID: undefined }, /OAUTH_ACME_CLIENT_ID: missing/],
    ["a generic provider without an issuer", { OAUTH_ACME_ISSUER: undefined }, /OAUTH_ACME_ISSUER: missing/],
    ["a plain-http issuer off this machine", { OAUTH_ACME_ISSUER: "http://login.acme.example" }, /https/],
    ["an id that cannot name variables", { OAUTH_PROVIDERS: "acme-corp" }, /not a provider id/],
    ["an id listed twice", { OAUTH_PROVIDERS: "acme,acme" }, /listed twice/],
    ["providers without a redirect URI", { OAUTH_REDIRECT_URIS: undefined }, /OAUTH_REDIRECT_URIS: missing/],
    ["an http redirect URI in production", { OAUTH_REDIRECT_URIS: "http://app.example.com/cb" }, /production/],
    ["a redirect URI with a fragment", { OAUTH_REDIRECT_URIS: "https://app.example.com/cb#x" }, /fragment/],
    ["a bad switch", { OAUTH_ALLOW_SIGN_UP: "maybe" }, /OAUTH_ALLOW_SIGN_UP/],
  ])("refuses %s, naming the variable", (_name, change, message) => {
    expect(() => oauthConfig({ ...minimal, ...change }, true)).toThrow(message);
  });

  it("accepts http on loopback (a provider run locally) and never echoes a secret", () => {
    const config = oauthConfig({ ...minimal, OAUTH_ACME_ISSUER: "http://127.0.0.1:9999" }, false);
    expect(config.providers[2]).toMatchObject({ issuer: "http://127.0.0.1:9999" });
    const refused = () =>
      oauthConfig({ ...minimal, OAUTH_ACME_ISSUER: "ftp://x", OAUTH_ACME_CLIENT_SECRET: "s3cr3t-value" }, true);
    expect(refused).toThrow(/OAUTH_ACME_ISSUER/);
    expect(refused).not.toThrow(/s3cr3t-value/);
  });
});

import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitHubAuthorizationRedirectError, type GitHubStandIn, startGitHubStandIn } from "../helpers/github-stand-in";
import { startOidcProvider, type TestOidcProvider } from "../helpers/oidc-provider";

// The harness itself, driven by openid-client 6 (panva's certified relying party) as a reference
// RP: if these pass, a failure in the server's sign-in tests is the server's, not the stand-ins'.

const REDIRECT = "http://127.0.0.1:9/oauth/callback";

/** What an RP keeps between sending the browser away and the callback. */
async function startFlow(config: client.Configuration, scope: string, oidc: boolean) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = oidc ? client.randomNonce() : undefined;
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    ...(nonce ? { nonce } : {}),
  });
  return { url, verifier, state, nonce };
}

/** The rejection of `promise`, to assert on its class and code. */
async function refusal(promise: Promise<unknown>): Promise<Error & { code?: string; cause?: unknown }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("expected a refusal");
}

describe("OpenID provider harness (oidc-provider behind a tampering proxy)", () => {
  let op: TestOidcProvider;
  let config: client.Configuration;

  beforeAll(async () => {
    op = await startOidcProvider({ redirectUris: [REDIRECT] });
    op.users.set("alice", { sub: "alice", email: "alice@example.com", email_verified: true, name: "Alice" });
    config = await client.discovery(new URL(op.issuer), op.clientId, op.clientSecret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    // Without this, openid-client trusts an ID token from the token endpoint on the strength of
    // TLS (OIDC Core §3.1.3.7) and never checks its signature against the JWKS.
    client.enableNonRepudiationChecks(config);
  });
  afterAll(() => op?.stop());

  async function signIn(sub = "alice") {
    const flow = await startFlow(config, "openid email profile", true);
    const callback = await op.authorize(flow.url.href, sub);
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });
    return { flow, callback, tokens };
  }

  it("signs in through the real login and consent forms, with PKCE, state, nonce and the iss parameter", async () => {
    const { flow, callback, tokens } = await signIn();
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    expect(callback.searchParams.get("state")).toBe(flow.state);
    // RFC 9207: oidc-provider names itself in the callback and advertises it in discovery.
    expect(callback.searchParams.get("iss")).toBe(op.issuer);
    expect(config.serverMetadata().authorization_response_iss_parameter_supported).toBe(true);

    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: op.issuer, aud: op.clientId, sub: "alice", nonce: flow.nonce });
    // conformIdTokenClaims: scope-requested claims are only at userinfo.
    expect(claims.email).toBeUndefined();
    const info = await client.fetchUserInfo(config, tokens.access_token, "alice");
    expect(info).toEqual({ sub: "alice", email: "alice@example.com", email_verified: true, name: "Alice" });
  });

  it("puts email in the ID token when asked to", async () => {
    const other = await startOidcProvider({ redirectUris: [REDIRECT], emailInIdToken: true });
    try {
      other.users.set("bob", { sub: "bob", email: "bob@example.com", email_verified: false });
      const otherConfig = await client.discovery(new URL(other.issuer), other.clientId, other.clientSecret, undefined, {
        execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
      });
      const flow = await startFlow(otherConfig, "openid email", true);
      const tokens = await client.authorizationCodeGrant(otherConfig, await other.authorize(flow.url.href, "bob"), {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
      });
      expect(tokens.claims()).toMatchObject({ sub: "bob", email: "bob@example.com", email_verified: false });
    } finally {
      await other.stop();
    }
  });

  it("refuses a callback without iss, or with another issuer's, before the token endpoint", async () => {
    const before = op.tokenRequests();
    const flow = await startFlow(config, "openid", true);
    const callback = await op.authorize(flow.url.href, "alice");
    const checks = { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce };

    const withoutIss = new URL(callback);
    withoutIss.searchParams.delete("iss");
    const missing = await refusal(client.authorizationCodeGrant(config, withoutIss, checks));
    expect(missing).toBeInstanceOf(client.ClientError);
    expect(missing.code).toBe("OAUTH_INVALID_RESPONSE");
    expect((missing.cause as Error).message).toBe('response parameter "iss" (issuer) missing');

    const foreignIss = new URL(callback);
    foreignIss.searchParams.set("iss", "http://127.0.0.1:1");
    const wrong = await refusal(client.authorizationCodeGrant(config, foreignIss, checks));
    expect(wrong.code).toBe("OAUTH_INVALID_RESPONSE");
    expect((wrong.cause as Error).message).toMatch(/"iss"/);

    const wrongState = await refusal(
      client.authorizationCodeGrant(config, callback, { ...checks, expectedState: "x" }),
    );
    expect((wrongState.cause as Error).message).toBe('unexpected "state" response parameter value');
    expect(wrongState.code).toBe("OAUTH_INVALID_RESPONSE");
    expect(op.tokenRequests()).toBe(before);
  });

  it.each([
    ["aud", (c: Record<string, unknown>) => ({ ...c, aud: "someone-else" }), "OAUTH_JWT_CLAIM_COMPARISON_FAILED"],
    ["iss", (c: Record<string, unknown>) => ({ ...c, iss: "http://127.0.0.1:1" }), "OAUTH_JWT_CLAIM_COMPARISON_FAILED"],
    ["nonce", (c: Record<string, unknown>) => ({ ...c, nonce: "replayed" }), "OAUTH_JWT_CLAIM_COMPARISON_FAILED"],
  ])("refuses an ID token with a patched %s", async (_name, patch, code) => {
    op.tamperIdToken(patch);
    try {
      const err = await refusal(signIn());
      expect(err).toBeInstanceOf(client.ClientError);
      expect(err.code).toBe(code);
    } finally {
      op.tamperIdToken(null);
    }
  });

  it("refuses an ID token signed with a foreign key when non-repudiation checks are on, and only then", async () => {
    op.tamperIdToken((c) => c, { foreignKey: true });
    try {
      const err = await refusal(signIn());
      expect(err).toBeInstanceOf(client.ClientError);
      expect(err.code).toBe("OAUTH_INVALID_RESPONSE");
      expect((err.cause as Error).message).toBe("JWT signature verification failed");
      // What the check buys: without it openid-client takes the forged token (validating claims only).
      const trusting = await client.discovery(new URL(op.issuer), op.clientId, op.clientSecret, undefined, {
        execute: [client.allowInsecureRequests],
      });
      const flow = await startFlow(trusting, "openid", true);
      const forged = await client.authorizationCodeGrant(trusting, await op.authorize(flow.url.href, "alice"), {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
      });
      expect(forged.claims()?.sub).toBe("alice");
      // The re-signing itself is sound: the same claims under the provider's key pass.
      op.tamperIdToken((c) => ({ ...c, name: "patched" }));
      const { tokens } = await signIn();
      expect(tokens.claims()?.name).toBe("patched");
    } finally {
      op.tamperIdToken(null);
    }
  });

  it("refuses a replayed code with invalid_grant", async () => {
    const flow = await startFlow(config, "openid", true);
    const callback = await op.authorize(flow.url.href, "alice");
    const checks = { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce };
    await client.authorizationCodeGrant(config, callback, checks);
    const err = await refusal(client.authorizationCodeGrant(config, callback, checks));
    expect(err).toBeInstanceOf(client.ResponseBodyError);
    expect(err).toMatchObject({ code: "OAUTH_RESPONSE_BODY_ERROR", error: "invalid_grant", status: 400 });
  });

  it("refuses a wrong PKCE verifier with invalid_grant", async () => {
    const flow = await startFlow(config, "openid", true);
    const callback = await op.authorize(flow.url.href, "alice");
    const err = await refusal(
      client.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: client.randomPKCECodeVerifier(),
        expectedState: flow.state,
        expectedNonce: flow.nonce,
      }),
    );
    expect(err).toMatchObject({ error: "invalid_grant" });
  });

  it("refuses to sign in an account it does not know", async () => {
    const flow = await startFlow(config, "openid", true);
    await expect(op.authorize(flow.url.href, "nobody")).rejects.toThrow('no account "nobody"');
  });

  it("answers 503 while down", async () => {
    op.setDown(true);
    try {
      const err = await refusal(
        client.discovery(new URL(op.issuer), op.clientId, op.clientSecret, undefined, {
          execute: [client.allowInsecureRequests],
        }),
      );
      expect(err).toBeInstanceOf(client.ClientError);
      expect(err.code).toBe("OAUTH_RESPONSE_IS_NOT_CONFORM");
      expect((err.cause as Response).status).toBe(503);
    } finally {
      op.setDown(false);
    }
  });
});

describe("GitHub stand-in", () => {
  let gh: GitHubStandIn;
  let config: client.Configuration;

  beforeAll(async () => {
    gh = await startGitHubStandIn({ redirectUris: [REDIRECT] });
    gh.users.set(42, {
      id: 42,
      login: "octo",
      name: "Octo Cat",
      emails: [
        { email: "octo@example.com", primary: true, verified: true, visibility: "private" },
        { email: "old@example.com", primary: false, verified: false },
      ],
    });
    // GitHub publishes no discovery document: the RP names its endpoints.
    config = new client.Configuration(
      {
        issuer: gh.baseUrl,
        authorization_endpoint: `${gh.baseUrl}/login/oauth/authorize`,
        token_endpoint: `${gh.baseUrl}/login/oauth/access_token`,
      },
      gh.clientId,
      gh.clientSecret,
    );
    client.allowInsecureRequests(config);
  });
  afterAll(() => gh?.stop());

  it("signs in with PKCE and reads /user and /user/emails with the token", async () => {
    const flow = await startFlow(config, "read:user user:email", false);
    const callback = await gh.authorize(flow.url.href, 42);
    expect(callback.searchParams.get("state")).toBe(flow.state);
    expect(callback.searchParams.has("iss")).toBe(false);
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
    });
    expect(tokens).toMatchObject({ token_type: "bearer", scope: "read:user,user:email" });

    const user = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${gh.apiUrl}/user`), "GET");
    expect(await user.json()).toMatchObject({ id: 42, login: "octo", name: "Octo Cat", email: null });
    const emails = await fetch(`${gh.apiUrl}/user/emails`, {
      headers: { authorization: `token ${tokens.access_token}`, accept: "application/vnd.github+json" },
    });
    expect(await emails.json()).toEqual([
      { email: "octo@example.com", primary: true, verified: true, visibility: "private" },
      { email: "old@example.com", primary: false, verified: false, visibility: null },
    ]);
    expect((await fetch(`${gh.apiUrl}/user`)).status).toBe(401);
  });

  it("answers a wrong verifier with HTTP 200 and bad_verification_code, which openid-client refuses", async () => {
    const flow = await startFlow(config, "user:email", false);
    const callback = await gh.authorize(flow.url.href, 42);
    const err = await refusal(
      client.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: client.randomPKCECodeVerifier(),
        expectedState: flow.state,
      }),
    );
    expect(err).toBeInstanceOf(client.ClientError);
    // Status 200, so oauth4webapi reads it as a success without access_token: not a
    // ResponseBodyError but an invalid response, GitHub's error one level down.
    expect(err.code).toBe("OAUTH_INVALID_RESPONSE");
    expect(err.cause).toMatchObject({
      message: '"response" body "access_token" property must be a string',
      cause: { body: { error: "bad_verification_code" } },
    });
  });

  it("refuses a replayed code and revokes the token it gave", async () => {
    const flow = await startFlow(config, "user:email", false);
    const callback = await gh.authorize(flow.url.href, 42);
    const checks = { pkceCodeVerifier: flow.verifier, expectedState: flow.state };
    const tokens = await client.authorizationCodeGrant(config, callback, checks);
    const err = await refusal(client.authorizationCodeGrant(config, callback, checks));
    expect(err.cause).toMatchObject({ cause: { body: { error: "bad_verification_code" } } });
    const user = await fetch(`${gh.apiUrl}/user`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(user.status).toBe(401);
    expect(await user.json()).toMatchObject({ message: "Bad credentials" });
  });

  it("accepts client_secret_basic, refuses a wrong secret, and answers form-encoded unless asked for JSON", async () => {
    const flow = await startFlow(config, "", false);
    const callback = await gh.authorize(flow.url.href, 42);
    const body = new URLSearchParams({
      code: callback.searchParams.get("code")!,
      redirect_uri: REDIRECT,
      code_verifier: flow.verifier,
    });
    const wrong = await fetch(`${gh.baseUrl}/login/oauth/access_token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${gh.clientId}:nope`).toString("base64")}` },
      body,
    });
    expect(wrong.status).toBe(200);
    expect(new URLSearchParams(await wrong.text()).get("error")).toBe("incorrect_client_credentials");
    const right = await fetch(`${gh.baseUrl}/login/oauth/access_token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${gh.clientId}:${gh.clientSecret}`).toString("base64")}` },
      body,
    });
    expect(right.headers.get("content-type")).toMatch(/^application\/x-www-form-urlencoded/);
    const answer = new URLSearchParams(await right.text());
    expect(answer.get("token_type")).toBe("bearer");
    // No user:email scope: GitHub hides /user/emails.
    const emails = await fetch(`${gh.apiUrl}/user/emails`, {
      headers: { authorization: `Bearer ${answer.get("access_token")}` },
    });
    expect(emails.status).toBe(404);
  });

  it("sends an unregistered redirect_uri back to the registered one with redirect_uri_mismatch", async () => {
    const url = new URL(`${gh.baseUrl}/login/oauth/authorize`);
    url.search = new URLSearchParams({
      client_id: gh.clientId,
      redirect_uri: "http://127.0.0.1:9/evil",
      state: "s",
    }).toString();
    const err = await refusal(gh.authorize(url.href, 42));
    expect(err).toBeInstanceOf(GitHubAuthorizationRedirectError);
    const location = (err as GitHubAuthorizationRedirectError).location;
    expect(location.origin + location.pathname).toBe(REDIRECT);
    expect(location.searchParams.get("error")).toBe("redirect_uri_mismatch");
  });

  it("answers 503 while down; an unreachable server is a TypeError, not a ClientError", async () => {
    const flow = await startFlow(config, "user:email", false);
    const callback = await gh.authorize(flow.url.href, 42);
    gh.setDown(true);
    try {
      const err = await refusal(
        client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state }),
      );
      expect(err.code).toBe("OAUTH_RESPONSE_IS_NOT_CONFORM");
      expect((err.cause as Response).status).toBe(503);
    } finally {
      gh.setDown(false);
    }

    const gone = await startGitHubStandIn({ redirectUris: [REDIRECT] });
    await gone.stop();
    const unreachable = new client.Configuration(
      { issuer: gone.baseUrl, token_endpoint: `${gone.baseUrl}/login/oauth/access_token` },
      gh.clientId,
      gh.clientSecret,
    );
    client.allowInsecureRequests(unreachable);
    const err = await refusal(
      client.authorizationCodeGrant(unreachable, callback, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
      }),
    );
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe("fetch failed");
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorCode, type GraphQLResponse, gql, LOGIN, me, newCredentials, REFRESH, register } from "./helpers/graphql";
import { decodePart } from "./helpers/jwt";
import { startServer, type TestServer } from "./helpers/server";
import { mailEnv, type SmtpSink, startSmtpSink } from "./helpers/smtp-sink";
import {
  Authenticator,
  CONFIRM_TOTP,
  DISABLE_TOTP,
  enrollTotp,
  loginForMfa,
  REAUTHENTICATE,
  REGENERATE,
  SECOND_FACTORS,
  START_TOTP,
  VERIFY_MFA,
  verifyMfa,
} from "./helpers/totp";

// BEHAVIOUR.md §8 through the real server and a real SMTP server: TOTP,
// recovery codes, MFA_REQUIRED and verifyMfa, recent sign-in and reauthenticate.

let sink: SmtpSink;
let server: TestServer;
beforeAll(async () => {
  sink = await startSmtpSink();
  server = await startServer({ ...mailEnv(sink), MAIL_PRODUCT_NAME: "Example Cloud" });
});
afterAll(async () => {
  await server?.close();
  await sink?.close();
});

const claimsOf = (accessToken: string) => decodePart(accessToken, 1);
const extensions = (r: GraphQLResponse) => r.body.errors?.[0]?.extensions ?? {};

/** A registered user with an authenticator app. */
async function enrolledUser(on: TestServer = server) {
  const user = await register(on.url);
  const enrolled = await enrollTotp(on.url, on.clock, user.accessToken);
  return { ...user, ...enrolled };
}

describe("setting up an authenticator app", () => {
  it("returns the secret, an otpauth URI and an SVG QR code; nothing is active until confirmed", async () => {
    const user = await register(server.url);
    const r = await gql(server.url, START_TOTP, {}, { token: user.accessToken });
    const setup = r.body.data?.startTotpSetup;
    expect(setup.secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits, base32
    const uri = new URL(setup.uri);
    expect(setup.uri.startsWith(`otpauth://totp/Example%20Cloud:${encodeURIComponent(user.email)}?`)).toBe(true);
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      secret: setup.secret,
      issuer: "Example Cloud",
      algorithm: "SHA1",
      digits: "6",
      period: "30",
    });
    expect(r.headers.get("cache-control")).toBe("no-store");

    // A valid SVG document: one root element, balanced, drawn with paths.
    const svg: string = setup.qrCodeSvg;
    expect(svg.trim()).toMatch(
      /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*viewBox="0 0 \d+ \d+"[^>]*>.*<\/svg>$/s,
    );
    const tags = [...svg.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)];
    const open: string[] = [];
    for (const [, closing, name, selfClosing] of tags) {
      if (selfClosing) continue;
      if (closing) expect(open.pop()).toBe(name);
      else open.push(name as string);
    }
    expect(open).toEqual([]);
    expect(svg).toContain("<path");

    // Pending: no second factor yet, and login asks for none.
    expect(
      (await gql(server.url, SECOND_FACTORS, {}, { token: user.accessToken })).body.data?.me.secondFactors,
    ).toEqual([]);
    const login = await gql(server.url, LOGIN, { email: user.email, password: user.password });
    expect(login.body.data?.login.accessToken).toBeTruthy();
  });

  it("activates nothing with a wrong code; the right one returns 10 recovery codes, once, and a notice", async () => {
    const user = await register(server.url);
    const setup = (await gql(server.url, START_TOTP, {}, { token: user.accessToken })).body.data?.startTotpSetup;
    const app = new Authenticator(setup.secret, server.clock);
    const wrongCode = String((Number(app.codeAt(0)) + 1) % 1_000_000).padStart(6, "0");
    const wrong = await gql(server.url, CONFIRM_TOTP, { code: wrongCode }, { token: user.accessToken });
    expect(errorCode(wrong)).toBe("INVALID_CREDENTIALS");
    expect(
      (await gql(server.url, SECOND_FACTORS, {}, { token: user.accessToken })).body.data?.me.secondFactors,
    ).toEqual([]);
    expect(
      (await gql(server.url, LOGIN, { email: user.email, password: user.password })).body.data?.login,
    ).toBeTruthy();
    expect(
      extensions(await gql(server.url, CONFIRM_TOTP, { code: "12345" }, { token: user.accessToken })),
    ).toMatchObject({ code: "BAD_USER_INPUT", field: "code" });

    const ok = await gql(server.url, CONFIRM_TOTP, { code: app.codeAt(0) }, { token: user.accessToken });
    const codes: string[] = ok.body.data?.confirmTotpSetup;
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
    expect(
      (await gql(server.url, SECOND_FACTORS, {}, { token: user.accessToken })).body.data?.me.secondFactors,
    ).toEqual(["TOTP"]);
    // Confirming again, or starting another setup, is refused: one app per account.
    expect(errorCode(await gql(server.url, CONFIRM_TOTP, { code: app.codeAt(1) }, { token: user.accessToken }))).toBe(
      "BAD_USER_INPUT",
    );
    expect(errorCode(await gql(server.url, START_TOTP, {}, { token: user.accessToken }))).toBe("BAD_USER_INPUT");

    const notice = await sink.waitFor((m) => m.to === user.email && /second factor was added/i.test(m.subject));
    expect(notice.text).toContain("An authenticator app was just added");
    // The codes are stored hashed: none is in the database.
    const rows = await server.sql<{ code_hash: string }>("select code_hash from recovery_codes");
    for (const code of codes) expect(JSON.stringify(rows)).not.toContain(code.replaceAll("-", ""));
    const stored = await server.sql<{ secret: string }>("select secret from totp_credentials");
    expect(JSON.stringify(stored)).not.toContain(setup.secret);
  });

  it("needs a recent sign-in to start", async () => {
    const user = await register(server.url);
    server.clock.advance(301);
    try {
      expect(errorCode(await gql(server.url, START_TOTP, {}, { token: user.accessToken }))).toBe(
        "REAUTHENTICATION_REQUIRED",
      );
    } finally {
      server.clock.advance(-301);
    }
  });
});

describe("signing in with a second factor", () => {
  it("answers MFA_REQUIRED to a right password, starts no session, and verifyMfa starts one with amr pwd+otp+mfa", async () => {
    const user = await enrolledUser();
    const before = await server.sql<{ n: number }>("select count(*) as n from sessions where user_id = ?", [
      user.user.id,
    ]);
    const login = await gql(server.url, LOGIN, { email: user.email, password: user.password });
    expect(login.body.data).toBeNull();
    expect(extensions(login)).toMatchObject({ code: "MFA_REQUIRED", methods: ["TOTP", "RECOVERY_CODE"] });
    const { mfaToken } = extensions(login);
    expect(mfaToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const after = await server.sql<{ n: number }>("select count(*) as n from sessions where user_id = ?", [
      user.user.id,
    ]);
    expect(Number(after[0]?.n)).toBe(Number(before[0]?.n));
    // A wrong password is still INVALID_CREDENTIALS, with no mfaToken.
    expect(extensions(await gql(server.url, LOGIN, { email: user.email, password: "wrong password here!" }))).toEqual(
      expect.objectContaining({ code: "INVALID_CREDENTIALS" }),
    );

    const verified = await verifyMfa(server.url, mfaToken, user.app.next());
    const tokens = verified.body.data?.verifyMfa;
    expect(tokens?.user.email).toBe(user.email);
    const claims = claimsOf(tokens?.accessToken as string);
    expect(claims.amr).toEqual(["pwd", "otp", "mfa"]);
    expect(claims.auth_time).toBe(claims.iat);
    expect((await me(server.url, tokens?.accessToken as string)).body.data?.me.id).toBe(user.user.id);
    expect((await gql(server.url, REFRESH, { token: tokens?.refreshToken })).body.data?.refreshToken).toBeTruthy();
    // Single-use.
    expect(errorCode(await verifyMfa(server.url, mfaToken, user.app.next()))).toBe("INVALID_TOKEN");
  });

  it("accepts the codes of one step either side and refuses two steps away", async () => {
    const user = await enrolledUser();
    // The confirmation used the current step; move on so -1 and +1 are both unused.
    server.clock.advance(60);
    const { mfaToken } = await loginForMfa(server.url, user);
    expect(errorCode(await verifyMfa(server.url, mfaToken, user.app.codeAt(-2)))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await verifyMfa(server.url, mfaToken, user.app.codeAt(2)))).toBe("INVALID_CREDENTIALS");
    expect((await verifyMfa(server.url, mfaToken, user.app.codeAt(-1))).body.data?.verifyMfa).toBeTruthy();
    const second = await loginForMfa(server.url, user);
    expect((await verifyMfa(server.url, second.mfaToken, user.app.codeAt(1))).body.data?.verifyMfa).toBeTruthy();
  });

  it("refuses a code used before, and an older code once a newer one was used (no replay)", async () => {
    const user = await enrolledUser();
    server.clock.advance(60);
    const older = user.app.codeAt(-1);
    const newer = user.app.codeAt(0);
    const first = await loginForMfa(server.url, user);
    expect((await verifyMfa(server.url, first.mfaToken, newer)).body.data?.verifyMfa).toBeTruthy();
    const second = await loginForMfa(server.url, user);
    expect(errorCode(await verifyMfa(server.url, second.mfaToken, newer))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await verifyMfa(server.url, second.mfaToken, older))).toBe("INVALID_CREDENTIALS");
    // The code of the confirmation cannot sign in either.
    server.clock.advance(-60);
    try {
      expect(errorCode(await verifyMfa(server.url, second.mfaToken, user.app.codeAt(0)))).toBe("INVALID_CREDENTIALS");
    } finally {
      server.clock.advance(60);
    }
    // The challenge is still alive for the next step's code.
    expect((await verifyMfa(server.url, second.mfaToken, user.app.codeAt(1))).body.data?.verifyMfa).toBeTruthy();
  });

  it("takes a recovery code once, however it is typed, and mails a notice with the codes left", async () => {
    const user = await enrolledUser();
    const [code] = user.recoveryCodes as [string];
    const { mfaToken } = await loginForMfa(server.url, user);
    const typed = ` ${code.toUpperCase().replaceAll("-", " ")} `;
    const verified = await verifyMfa(server.url, mfaToken, typed);
    expect(claimsOf(verified.body.data?.verifyMfa.accessToken as string).amr).toEqual(["pwd", "otp", "mfa"]);
    const notice = await sink.waitFor((m) => m.to === user.email && /recovery code was used/i.test(m.subject));
    expect(notice.text).toContain("9 are left");

    const again = await loginForMfa(server.url, user);
    expect(errorCode(await verifyMfa(server.url, again.mfaToken, code))).toBe("INVALID_CREDENTIALS");
    expect((await verifyMfa(server.url, again.mfaToken, user.recoveryCodes[1] as string)).body.data).toBeTruthy();
  });

  it("answers INVALID_TOKEN for an unknown mfaToken and after 5 minutes", async () => {
    const user = await enrolledUser();
    expect(errorCode(await verifyMfa(server.url, "x".repeat(43), user.app.next()))).toBe("INVALID_TOKEN");
    expect(errorCode(await verifyMfa(server.url, "", user.app.next()))).toBe("INVALID_TOKEN");
    const { mfaToken } = await loginForMfa(server.url, user);
    server.clock.advance(301);
    try {
      expect(errorCode(await verifyMfa(server.url, mfaToken, user.app.next()))).toBe("INVALID_TOKEN");
    } finally {
      server.clock.advance(-301);
    }
  });

  it("kills the mfaToken after 5 wrong codes", async () => {
    const user = await enrolledUser();
    const { mfaToken } = await loginForMfa(server.url, user);
    for (let i = 0; i < 5; i++) {
      expect(errorCode(await verifyMfa(server.url, mfaToken, "000000"))).toBe("INVALID_CREDENTIALS");
    }
    expect(errorCode(await verifyMfa(server.url, mfaToken, user.app.next()))).toBe("INVALID_TOKEN");
    // A new sign-in works.
    const fresh = await loginForMfa(server.url, user);
    expect((await verifyMfa(server.url, fresh.mfaToken, user.app.next())).body.data?.verifyMfa).toBeTruthy();
  });

  it("asks for exactly one of code and passkey; a malformed passkey answer is BAD_USER_INPUT", async () => {
    const user = await enrolledUser();
    const { mfaToken } = await loginForMfa(server.url, user);
    const none = await gql(server.url, VERIFY_MFA, { mfaToken, code: null });
    expect(extensions(none)).toMatchObject({ code: "BAD_USER_INPUT", field: "code" });
    const passkey = await gql(
      server.url,
      `mutation ($mfaToken: String!) {
        verifyMfa(input: { mfaToken: $mfaToken, passkey: { challengeId: "c", response: { id: "x" } } }) { accessToken }
      }`,
      { mfaToken },
    );
    expect(extensions(passkey)).toMatchObject({ code: "BAD_USER_INPUT", field: "response" });
    // Neither counted against the challenge.
    expect((await verifyMfa(server.url, mfaToken, user.app.next())).body.data?.verifyMfa).toBeTruthy();
  });

  it("applies to a sign-in by mailed link and by code: amr email+otp+mfa", async () => {
    const user = await enrolledUser();
    const requestSignIn = () =>
      gql(server.url, "mutation ($email: String!) { requestSignInEmail(email: $email) }", { email: user.email });
    const seen = new Set(sink.messages.map((m) => m.messageId));
    await requestSignIn();
    const mail = await sink.waitFor(
      (m) => m.to === user.email && /sign-in code/i.test(m.subject) && !seen.has(m.messageId),
    );
    seen.add(mail.messageId);
    const token = /\?token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
    const byLink = await gql(
      server.url,
      "mutation ($token: String!) { signInWithEmailLink(token: $token) { accessToken } }",
      {
        token,
      },
    );
    expect(extensions(byLink)).toMatchObject({ code: "MFA_REQUIRED", methods: ["TOTP", "RECOVERY_CODE"] });
    // The link is used up by the first factor.
    expect(
      errorCode(
        await gql(server.url, "mutation ($token: String!) { signInWithEmailLink(token: $token) { accessToken } }", {
          token,
        }),
      ),
    ).toBe("INVALID_TOKEN");
    const verified = await verifyMfa(server.url, extensions(byLink).mfaToken, user.app.next());
    expect(claimsOf(verified.body.data?.verifyMfa.accessToken as string).amr).toEqual(["email", "otp", "mfa"]);

    await requestSignIn();
    const second = await sink.waitFor(
      (m) => m.to === user.email && /sign-in code/i.test(m.subject) && !seen.has(m.messageId),
    );
    const code = /\b(\d{6})\b/.exec(second.text)?.[1];
    const byCode = await gql(
      server.url,
      "mutation ($email: String!, $code: String!) { signInWithEmailCode(input: { email: $email, code: $code }) { accessToken } }",
      { email: user.email, code },
    );
    expect(extensions(byCode)).toMatchObject({ code: "MFA_REQUIRED" });
    const done = await verifyMfa(server.url, extensions(byCode).mfaToken, user.recoveryCodes[0] as string);
    expect(claimsOf(done.body.data?.verifyMfa.accessToken as string).amr).toEqual(["email", "otp", "mfa"]);
  });
});

describe("recent sign-in and reauthenticate", () => {
  it("REAUTHENTICATION_REQUIRED after REAUTH_MAX_AGE; reauthenticate renews it in the same session", async () => {
    const user = await enrolledUser();
    server.clock.advance(301);
    try {
      for (const [query, variables] of [
        [DISABLE_TOTP, { code: user.app.codeAt(0) }],
        [REGENERATE, { code: user.app.codeAt(0) }],
      ] as const) {
        expect(errorCode(await gql(server.url, query, variables, { token: user.accessToken }))).toBe(
          "REAUTHENTICATION_REQUIRED",
        );
      }
      const before = claimsOf(user.accessToken);
      const r = await gql(server.url, REAUTHENTICATE, { password: user.password }, { token: user.accessToken });
      const renewed = r.body.data?.reauthenticate;
      const after = claimsOf(renewed.accessToken);
      expect(after.sid).toBe(before.sid);
      expect(after.auth_time).toBeGreaterThanOrEqual(before.auth_time + 300);
      expect(after.amr).toEqual(["pwd"]);
      // The session's refresh token is untouched: the one the client holds still rotates, and it is the one returned.
      expect(renewed.refreshToken).toBe(user.refreshToken);
      const regenerated = await gql(server.url, REGENERATE, { code: user.app.next() }, { token: renewed.accessToken });
      expect(regenerated.body.data?.regenerateRecoveryCodes).toHaveLength(10);

      // With a code: amr otp. Refreshing keeps the new auth_time.
      server.clock.advance(301);
      const byCode = await gql(server.url, REAUTHENTICATE, { code: user.app.next() }, { token: renewed.accessToken });
      const codeClaims = claimsOf(byCode.body.data?.reauthenticate.accessToken);
      expect(codeClaims).toMatchObject({ sid: before.sid, amr: ["otp"] });
      const refreshed = (await gql(server.url, REFRESH, { token: user.refreshToken })).body.data?.refreshToken;
      expect(claimsOf(refreshed.accessToken)).toMatchObject({ sid: before.sid, auth_time: codeClaims.auth_time });
    } finally {
      server.clock.advance(-602);
    }
  });

  it("refuses a wrong password or code, none, or two at once", async () => {
    const user = await enrolledUser();
    const reauth = (variables: Record<string, unknown>) =>
      gql(server.url, REAUTHENTICATE, variables, { token: user.accessToken });
    expect(errorCode(await reauth({ password: "not the password at all" }))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await reauth({ code: "000000" }))).toBe("INVALID_CREDENTIALS");
    expect(extensions(await reauth({}))).toMatchObject({ code: "BAD_USER_INPUT", field: "input" });
    expect(extensions(await reauth({ password: user.password, code: user.app.codeAt(0) }))).toMatchObject({
      code: "BAD_USER_INPUT",
    });
    expect(errorCode(await gql(server.url, REAUTHENTICATE, { password: user.password }))).toBe("UNAUTHENTICATED");
  });
});

describe("removing the app and regenerating recovery codes", () => {
  it("disableTotp needs a right code, mails a notice, and sign-in asks for nothing afterwards", async () => {
    const user = await enrolledUser();
    expect(errorCode(await gql(server.url, DISABLE_TOTP, { code: "000000" }, { token: user.accessToken }))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect(
      (await gql(server.url, DISABLE_TOTP, { code: user.recoveryCodes[3] }, { token: user.accessToken })).body.data,
    ).toEqual({ disableTotp: true });
    await sink.waitFor((m) => m.to === user.email && /second factor was removed/i.test(m.subject));
    expect(
      (await gql(server.url, SECOND_FACTORS, {}, { token: user.accessToken })).body.data?.me.secondFactors,
    ).toEqual([]);
    expect(
      (await gql(server.url, LOGIN, { email: user.email, password: user.password })).body.data?.login,
    ).toBeTruthy();
    // The recovery codes went with it.
    expect(await server.sql("select id from recovery_codes where user_id = ?", [user.user.id])).toEqual([]);
    expect(errorCode(await gql(server.url, DISABLE_TOTP, { code: "123456" }, { token: user.accessToken }))).toBe(
      "NOT_FOUND",
    );
    // A new app can be set up.
    const again = await enrollTotp(server.url, server.clock, user.accessToken);
    expect(again.recoveryCodes).toHaveLength(10);
  });

  it("regenerateRecoveryCodes voids the old codes", async () => {
    const user = await enrolledUser();
    const fresh = (await gql(server.url, REGENERATE, { code: user.app.next() }, { token: user.accessToken })).body.data
      ?.regenerateRecoveryCodes as string[];
    expect(fresh).toHaveLength(10);
    const { mfaToken } = await loginForMfa(server.url, user);
    expect(errorCode(await verifyMfa(server.url, mfaToken, user.recoveryCodes[0] as string))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect((await verifyMfa(server.url, mfaToken, fresh[0] as string)).body.data?.verifyMfa).toBeTruthy();
  });
});

describe("the log", () => {
  it("never holds a TOTP secret, a code, a recovery code or an mfaToken", async () => {
    const user = await enrolledUser();
    const { mfaToken } = await loginForMfa(server.url, user);
    const code = user.app.next();
    await verifyMfa(server.url, mfaToken, "111111");
    await verifyMfa(server.url, mfaToken, code);
    const logs = server.logs.join("\n");
    const secret = new URL(user.uri).searchParams.get("secret") as string;
    for (const value of [
      secret,
      code,
      mfaToken,
      ...user.recoveryCodes,
      ...user.recoveryCodes.map((c) => c.replaceAll("-", "")),
    ])
      expect(logs).not.toContain(value);
    expect(logs).toContain('"event":"mfa_verified"');
  });
});

describe("several users at once", () => {
  it("User.secondFactors is per user", async () => {
    const a = await enrolledUser();
    const b = await register(server.url, newCredentials());
    expect((await gql(server.url, SECOND_FACTORS, {}, { token: a.accessToken })).body.data?.me.secondFactors).toEqual([
      "TOTP",
    ]);
    expect((await gql(server.url, SECOND_FACTORS, {}, { token: b.accessToken })).body.data?.me.secondFactors).toEqual(
      [],
    );
  });
});

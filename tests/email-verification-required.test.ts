import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorCode, gql, register } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";
import { mailEnv, type SmtpSink, startSmtpSink } from "./helpers/smtp-sink";

// BEHAVIOUR.md §7: with REQUIRE_EMAIL_VERIFICATION=true an unverified user may
// use only `me`, `sessions`, `logout*`, `revokeSession`,
// `requestEmailVerification` and `verifyEmail`; everything else answers
// EMAIL_NOT_VERIFIED. Every root field of the schema is classified below, so a
// new operation fails this test until someone decides which side it is on.

const id = randomUUID();
/** Operations an unverified user may use, called with their access token. */
const ALLOWED: Record<string, string> = {
  me: "query { me { email emailVerified } }",
  sessions: "query { sessions { id } }",
  revokeSession: `mutation { revokeSession(id: "${id}") }`,
  requestEmailVerification: "mutation { requestEmailVerification }",
  logoutAll: "mutation { logoutAll }",
};
/** Operations that need a signed-in user and are refused until the address is verified. */
const GATED: Record<string, string> = {
  notes: "query { notes { totalCount } }",
  note: `query { note(id: "${id}") { id } }`,
  users: "query { users { totalCount } }",
  createNote: 'mutation { createNote(input: { title: "t", body: "b" }) { id } }',
  updateNote: `mutation { updateNote(id: "${id}", patch: { title: "t" }) { id } }`,
  deleteNote: `mutation { deleteNote(id: "${id}") }`,
  changePassword:
    'mutation { changePassword(input: { currentPassword: "correct horse battery staple", newPassword: "another long passphrase" }) { accessToken } }',
  setUserRoles: `mutation { setUserRoles(userId: "${id}", roles: [USER]) { id } }`,
  requestEmailChange: 'mutation { requestEmailChange(newEmail: "someone.new@example.com") }',
  passkeys: "query { passkeys { id } }",
  startPasskeyRegistration: "mutation { startPasskeyRegistration { challengeId } }",
  finishPasskeyRegistration: `mutation { finishPasskeyRegistration(input: { challengeId: "${id}", response: {} }) { id } }`,
  deletePasskey: `mutation { deletePasskey(id: "${id}") }`,
  // Second factors (§8): setting one up, removing it or renewing a sign-in is
  // for verified accounts only, like every other change; BEHAVIOUR.md §7's
  // list of what an unverified user may do is exhaustive.
  startTotpSetup: "mutation { startTotpSetup { secret } }",
  confirmTotpSetup: 'mutation { confirmTotpSetup(code: "123456") }',
  disableTotp: 'mutation { disableTotp(code: "123456") }',
  regenerateRecoveryCodes: 'mutation { regenerateRecoveryCodes(code: "123456") }',
  reauthenticate: 'mutation { reauthenticate(input: { password: "correct horse battery staple" }) { accessToken } }',
  // Linked identities (§9) are changes to the account like the rest.
  linkedAccounts: "query { linkedAccounts { id } }",
  linkOAuthAccount: 'mutation { linkOAuthAccount(input: { provider: "acme", code: "c", state: "s" }) { id } }',
  unlinkOAuthAccount: `mutation { unlinkOAuthAccount(id: "${id}") }`,
};
/** Operations that need no access token: nobody is signed in to be unverified (they sign in, or prove the address). */
const NO_USER = [
  "register",
  "login",
  "refreshToken",
  "logout",
  "verifyEmail",
  "requestPasswordReset",
  "resetPassword",
  "confirmEmailChange",
  "requestSignInEmail",
  "signInWithEmailLink",
  "signInWithEmailCode",
  "startPasskeySignIn",
  "finishPasskeySignIn",
  // Completes a sign-in like login does (an unverified user gets a session, and is gated there).
  "verifyMfa",
  // Starts the passkey step of such a sign-in: an mfaToken, no user yet.
  "startPasskeyMfa",
  // Sign-in with a provider (§9): the list, the start and the finish need nobody signed in.
  "oauthProviders",
  "startOAuthSignIn",
  "finishOAuthSignIn",
];

let sink: SmtpSink;
let server: TestServer;
beforeAll(async () => {
  sink = await startSmtpSink();
  server = await startServer({ ...mailEnv(sink), REQUIRE_EMAIL_VERIFICATION: "true" });
});
afterAll(async () => {
  await server?.close();
  await sink?.close();
});

describe("REQUIRE_EMAIL_VERIFICATION", () => {
  it("classifies every root operation of the schema", async () => {
    const r = await gql(server.url, "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }");
    const schema = r.body.data?.__schema;
    const names = [...schema.queryType.fields, ...schema.mutationType.fields].map((f: { name: string }) => f.name);
    const classified = [...Object.keys(ALLOWED), ...Object.keys(GATED), ...NO_USER];
    expect([...names].sort()).toEqual([...classified].sort());
  });

  it("lets an unverified user use exactly the allowed operations and refuses the rest", async () => {
    const user = await register(server.url);
    for (const [name, query] of Object.entries(GATED)) {
      const r = await gql(server.url, query, {}, { token: user.accessToken });
      expect([name, r.status, errorCode(r)]).toEqual([name, 200, "EMAIL_NOT_VERIFIED"]);
    }
    for (const [name, query] of Object.entries(ALLOWED)) {
      if (name === "logoutAll") continue; // last: it ends the session
      const r = await gql(server.url, query, {}, { token: user.accessToken });
      // revokeSession of an unknown id answers NOT_FOUND: it ran, it was not refused.
      expect([name, errorCode(r) ?? "OK"]).toEqual([name, name === "revokeSession" ? "NOT_FOUND" : "OK"]);
    }
    const out = await gql(server.url, ALLOWED.logoutAll as string, {}, { token: user.accessToken });
    expect(out.body.data?.logoutAll).toBeGreaterThanOrEqual(1);
  });

  it("lets the user in once the address is verified, in the same session", async () => {
    const user = await register(server.url);
    const mail = await sink.waitFor((m) => m.to === user.email && m.text.includes("/verify-email"));
    const token = /\/verify-email\?token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
    expect(errorCode(await gql(server.url, GATED.notes as string, {}, { token: user.accessToken }))).toBe(
      "EMAIL_NOT_VERIFIED",
    );
    expect(
      (await gql(server.url, "mutation ($t: String!) { verifyEmail(token: $t) }", { t: token })).body.data,
    ).toEqual({ verifyEmail: true });
    const notes = await gql(server.url, GATED.notes as string, {}, { token: user.accessToken });
    expect(notes.body.data?.notes.totalCount).toBe(0);
  });

  it("gates nothing when it is off (the default)", async () => {
    const open = await startServer();
    try {
      const user = await register(open.url);
      const r = await gql(open.url, GATED.notes as string, {}, { token: user.accessToken });
      expect(r.body.data?.notes.totalCount).toBe(0);
    } finally {
      await open.close();
    }
  });
});

import { CombinedGraphQLErrors, gql, type TypedDocumentNode } from "@apollo/client";
import { createAuthClient } from "./auth-client";
import { setUpEmailPages } from "./email-pages";
import { setUpIdentityProviders } from "./identity-providers";
import type { SignIn, User } from "./operations";
import * as ops from "./operations";
// router.ts takes a mailed token (or a provider's code) out of the address bar as it is imported: before this module's code runs.
import { MAIL_ROUTES, type Route, startRouter } from "./router";
import { type SecondFactors, setUpSecondFactors } from "./second-factors";
import { $, type ApiError, apiError } from "./ui";

type Session = { id: string; current: boolean; userAgent: string | null; lastUsedAt: string };

/** Built with VITE_MAIL=off for a server that sends no mail (MAIL_TRANSPORT=none). */
const MAIL = import.meta.env.VITE_MAIL !== "off";
const withUser = (op: string) => gql(`${op}\n${ops.userFields(MAIL)}`);

const REGISTER: TypedDocumentNode<{ signIn: SignIn }> = withUser(ops.REGISTER);
const LOGIN: TypedDocumentNode<{ signIn: SignIn }> = withUser(ops.LOGIN);
const ME: TypedDocumentNode<{ me: User }> = withUser(ops.ME);
const SESSIONS: TypedDocumentNode<{ sessions: Session[] }> = gql(ops.SESSIONS);
const REVOKE = gql(ops.REVOKE);
const LOGOUT = gql(ops.LOGOUT);

// The endpoint: `?api=` (development, tests), else what the build was given, else the local server.
const api =
  new URLSearchParams(location.search).get("api") ?? import.meta.env.VITE_API_URL ?? "http://127.0.0.1:4000/graphql";

let user: User | null = null;

function show(signedIn: User | null) {
  user = signedIn;
  $("signed-out").hidden = signedIn !== null;
  $("signed-in").hidden = signedIn === null;
  $("me-email").textContent = signedIn?.email ?? "";
  if (MAIL) {
    $("me-verified").textContent = signedIn?.emailVerified ? "verified" : "not verified";
    $("verify-banner").hidden = signedIn === null || signedIn.emailVerified !== false;
  }
  if (signedIn === null) {
    $("sessions").replaceChildren();
    // Nothing of the previous account stays on the page.
    for (const e of $("signed-in").querySelectorAll(".result, .error")) e.textContent = "";
    for (const e of $("signed-in").querySelectorAll<HTMLElement>(".after-error")) e.hidden = true;
  }
  factors.userChanged(signedIn);
  providers.userChanged(signedIn);
}
function fail(message: string) {
  $("error").textContent = message;
}
const messageOf = (error: unknown) =>
  CombinedGraphQLErrors.is(error) ? (error.errors[0]?.message ?? "Error") : "Cannot reach the server";

const auth = createAuthClient({
  uri: api,
  name: "auth-server-web-example",
  version: "1.0.0",
  onSignedOut({ reason }) {
    show(null);
    // The usual cause in development: the page on localhost, the API on 127.0.0.1 (or the other way
    // round) are two sites, so the browser never stored the SameSite=Strict refresh cookie.
    fail(
      reason === "MISSING"
        ? "Signed out: the refresh cookie never came back. Serve the page and the API from the same site."
        : "Your session has ended. Please sign in again.",
    );
  },
});
const { client } = auth;

/** Who is signed in, or null; refreshes silently through the cookie when needed. */
async function me(): Promise<string | null> {
  try {
    const { data } = await client.query({ query: ME, fetchPolicy: "network-only" });
    show(data?.me ?? null);
  } catch {
    show(null);
  }
  return user?.email ?? null;
}

/** Any sign-in (password, mailed link or code, second factor, passkey, identity provider): the access token stays in memory, the cookie holds the rest. */
function signedIn(payload: SignIn) {
  fail("");
  factors.reset();
  auth.signedIn(payload.accessToken);
  show(payload.user);
}

async function signIn(mutation: typeof LOGIN, form: HTMLFormElement) {
  const input = new FormData(form);
  try {
    const { data } = await client.mutate({
      mutation,
      variables: { email: input.get("email"), password: input.get("password") },
      fetchPolicy: "no-cache", // keep the access token out of the cache
    });
    const payload = data?.signIn;
    if (!payload) return;
    form.reset(); // the password leaves the page
    signedIn(payload);
  } catch (error) {
    const e = apiError(error);
    if (e.code !== "MFA_REQUIRED") return fail(messageOf(error));
    // The password was right; the account has a second factor: the next step asks for it.
    form.reset();
    factors.mfaRequired(e);
  }
}

async function loadSessions() {
  const { data } = await client.query({ query: SESSIONS, fetchPolicy: "network-only" });
  const items = (data?.sessions ?? []).map((s) => {
    const li = document.createElement("li");
    li.className = s.current ? "session current" : "session";
    li.textContent = `${s.current ? "this device" : (s.userAgent ?? "unknown").slice(0, 40)} — last used ${new Date(s.lastUsedAt).toLocaleString()}`;
    if (!s.current) {
      const button = document.createElement("button");
      button.className = "revoke";
      button.textContent = "Revoke";
      button.onclick = async () => {
        await client.mutate({ mutation: REVOKE, variables: { id: s.id } });
        await loadSessions();
      };
      li.append(" ", button);
    }
    return li;
  });
  $("sessions").replaceChildren(...items);
}

/** Ends this device's session; the mutation clears the cookie. */
async function signOut() {
  await client.mutate({ mutation: LOGOUT });
  await auth.signOut();
  show(null);
}

$<HTMLFormElement>("register-form").onsubmit = (e) => {
  e.preventDefault();
  void signIn(REGISTER, e.target as HTMLFormElement);
};
$<HTMLFormElement>("login-form").onsubmit = (e) => {
  e.preventDefault();
  void signIn(LOGIN, e.target as HTMLFormElement);
};
$("load-sessions").onclick = () => void loadSessions();
$("logout").onclick = () => void signOut();

// Until the first `me` has answered, the page does not know whether someone is signed in.
let ready: Promise<unknown> = new Promise(() => {});
const factors: SecondFactors = setUpSecondFactors({
  client,
  auth,
  signedIn,
  user: () => user,
  ready: () => ready,
  userFields: ops.userFields(MAIL),
});
const mfaRequired = (e: ApiError) => factors.mfaRequired(e);
const email = MAIL ? setUpEmailPages({ client, auth, me, signedIn, signOut, mfaRequired, user: () => user }) : null;
const providers = setUpIdentityProviders({
  client,
  signedIn,
  mfaRequired,
  user: () => user,
  ready: () => ready,
  userFields: ops.userFields(MAIL),
  sensitive: (change) => factors.sensitive(change),
  confirmItsYou: () => factors.confirmItsYou(),
});
if (!MAIL) for (const e of document.querySelectorAll(".mail-only")) e.remove();

/** One view at a time; the mail pages exist only when the server sends mail. */
function render(route: Route) {
  const shown = MAIL || !MAIL_ROUTES.includes(route) ? route : "";
  const id = `view-${(shown || "home").replace("/", "-")}`; // oauth/callback: #view-oauth-callback
  for (const view of document.querySelectorAll<HTMLElement>(".view")) view.hidden = view.id !== id;
  fail("");
  email?.enter(shown);
  factors.enter(shown);
  providers.enter(shown);
}

// For tests and the curious: drive the page from the console.
Object.assign(window, { __auth: { me, refresh: auth.refresh, refreshes: auth.refreshes, loadSessions } });

// A reload keeps the session: the access token was only in memory, the cookie restores it.
ready = me().finally(() => document.body.setAttribute("data-ready", "true"));
startRouter(render);

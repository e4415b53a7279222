import { CombinedGraphQLErrors, gql, type TypedDocumentNode } from "@apollo/client";
import { createAuthClient } from "./auth-client";

type SignIn = { accessToken: string; user: { email: string } };
type Session = { id: string; current: boolean; userAgent: string | null; lastUsedAt: string };

// Both alias their field to `signIn`, so one function handles either.
const REGISTER: TypedDocumentNode<{ signIn: SignIn }> = gql`
  mutation Register($email: String!, $password: String!) {
    signIn: register(input: { email: $email, password: $password }) { accessToken user { email } }
  }
`;
const LOGIN: TypedDocumentNode<{ signIn: SignIn }> = gql`
  mutation Login($email: String!, $password: String!) {
    signIn: login(input: { email: $email, password: $password }) { accessToken user { email } }
  }
`;
const ME: TypedDocumentNode<{ me: { id: string; email: string } }> = gql`query Me { me { id email roles } }`;
const SESSIONS: TypedDocumentNode<{ sessions: Session[] }> = gql`
  query Sessions { sessions { id current userAgent lastUsedAt } }
`;
const REVOKE = gql`mutation Revoke($id: ID!) { revokeSession(id: $id) }`;
const LOGOUT = gql`mutation Logout { logout }`;

const api = new URLSearchParams(location.search).get("api") ?? "http://127.0.0.1:4000/graphql";
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function show(signedIn: boolean, email = "") {
  $("signed-out").hidden = signedIn;
  $("signed-in").hidden = !signedIn;
  $("me-email").textContent = email;
  if (!signedIn) $("sessions").replaceChildren();
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
    show(false);
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
    const email = data?.me.email ?? null;
    show(email !== null, email ?? "");
    return email;
  } catch {
    show(false);
    return null;
  }
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
    fail("");
    auth.signedIn(payload.accessToken);
    show(true, payload.user.email);
  } catch (error) {
    fail(messageOf(error));
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

$<HTMLFormElement>("register-form").onsubmit = (e) => {
  e.preventDefault();
  void signIn(REGISTER, e.target as HTMLFormElement);
};
$<HTMLFormElement>("login-form").onsubmit = (e) => {
  e.preventDefault();
  void signIn(LOGIN, e.target as HTMLFormElement);
};
$("load-sessions").onclick = () => void loadSessions();
$("logout").onclick = async () => {
  await client.mutate({ mutation: LOGOUT });
  await auth.signOut();
  show(false);
};

// For tests and the curious: drive the page from the console.
Object.assign(window, { __auth: { me, refresh: auth.refresh, refreshes: auth.refreshes, loadSessions } });

// A reload keeps the session: the access token was only in memory, the cookie restores it.
void me().finally(() => document.body.setAttribute("data-ready", "true"));

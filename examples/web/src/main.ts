import { gql } from "@urql/core";
import { createAuthClient } from "./auth-client";

const REGISTER = gql`
  mutation Register($email: String!, $password: String!) {
    register(input: { email: $email, password: $password }) { accessToken user { email } }
  }
`;
const LOGIN = gql`
  mutation Login($email: String!, $password: String!) {
    login(input: { email: $email, password: $password }) { accessToken user { email } }
  }
`;
const ME = gql`query Me { me { id email roles } }`;
const SESSIONS = gql`query Sessions { sessions { id current userAgent lastUsedAt } }`;
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

const auth = createAuthClient(api, () => show(false));
const { client } = auth;

/** Who is signed in, or null; refreshes silently through the cookie when needed. */
async function me(): Promise<string | null> {
  const result = await client.query(ME, {}).toPromise();
  const email = (result.data?.me?.email as string | undefined) ?? null;
  show(email !== null, email ?? "");
  return email;
}

async function signIn(mutation: typeof LOGIN, form: HTMLFormElement) {
  const data = new FormData(form);
  const result = await client.mutation(mutation, { email: data.get("email"), password: data.get("password") }).toPromise();
  const payload = result.data?.register ?? result.data?.login;
  if (!payload) return fail(result.error?.graphQLErrors[0]?.message ?? "Could not sign in");
  fail("");
  auth.signedIn(payload.accessToken);
  show(true, payload.user.email);
}

async function loadSessions() {
  const result = await client.query(SESSIONS, {}).toPromise();
  const items = (result.data?.sessions ?? []).map((s: { id: string; current: boolean; userAgent: string | null; lastUsedAt: string }) => {
    const li = document.createElement("li");
    li.className = s.current ? "session current" : "session";
    li.textContent = `${s.current ? "this device" : (s.userAgent ?? "unknown").slice(0, 40)} — last used ${new Date(s.lastUsedAt).toLocaleString()}`;
    if (!s.current) {
      const button = document.createElement("button");
      button.className = "revoke";
      button.textContent = "Revoke";
      button.onclick = async () => {
        await client.mutation(REVOKE, { id: s.id }).toPromise();
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
  await client.mutation(LOGOUT, {}).toPromise();
  auth.signOut();
};

// For tests and the curious: drive the page from the console.
Object.assign(window, { __auth: { me, refresh: auth.refresh, refreshes: auth.refreshes, loadSessions } });

// A reload keeps the session: the access token was only in memory, the cookie restores it.
void me().finally(() => document.body.setAttribute("data-ready", "true"));

import { type ApolloClient, gql, type TypedDocumentNode } from "@apollo/client";
import type { LinkedAccount, OAuthProvider, SignIn, User } from "./operations";
import * as ops from "./operations";
import { navigate, type OAuthCallback, oauthCallbackUrl, type Route, takeOAuthAnswer } from "./router";
import { Cancelled } from "./second-factors";
import { $, type ApiError, apiError, explain } from "./ui";

// Sign-in with an identity provider (BEHAVIOUR.md §9, oauth.graphql):
// - the sign-in page's "Sign in with …" buttons: `startOAuthSignIn` gives the
//   provider's authorization URL (the server keeps the state, the PKCE
//   verifier and the nonce), and the browser goes there;
// - /oauth/callback, where the provider sends the browser back with `code` and
//   `state`: `finishOAuthSignIn` signs in (or MFA_REQUIRED asks for the second
//   factor), `linkOAuthAccount` links to the signed-in account;
// - the security page's "Linked accounts": the list, "Unlink", "Link …".
//
// The state check. The server refuses a state it did not issue, but a state it
// did issue proves nothing about *whose* browser started the sign-in: an
// attacker can start one, stop at the callback and send the victim that link,
// signing the victim into the attacker's account, or linking the attacker's
// identity to the victim's (login CSRF, RFC 6749 §10.12; RFC 9700 §4.7). So
// before leaving, the page keeps the state in this tab's sessionStorage, and
// the callback sends the code only when the state it brings is that one.

/** sessionStorage: this tab only, gone when it closes; it survives the round trip through the provider. */
export const PENDING_KEY = "oauth.pending";
type Intent = "sign-in" | "link";
interface Pending {
  provider: string;
  state: string;
  intent: Intent;
}

/** What this module needs from main.ts and second-factors.ts. */
export interface App {
  client: ApolloClient;
  /** Keeps the access token of a sign-in and shows the account. */
  signedIn(payload: SignIn): void;
  /** A sign-in answered MFA_REQUIRED: the home page asks for the second factor. */
  mfaRequired(e: ApiError): void;
  user(): User | null;
  /** Resolves once the page knows whether someone is signed in (the first `me`). */
  ready(): Promise<unknown>;
  /** `userFields` with or without `emailVerified` (VITE_MAIL). */
  userFields: string;
  /** Runs a change needing a recent sign-in, with the "confirm it's you" dialog (second-factors.ts). */
  sensitive<T>(change: () => Promise<T>): Promise<T>;
  /** The "confirm it's you" dialog alone; rejects with Cancelled. */
  confirmItsYou(): Promise<void>;
}

/** `startOAuthSignIn` answered with something the page will not send the browser to. */
class UnusableAuthorizationUrl extends Error {}

type Vars = Record<string, unknown>;
type Doc<T> = TypedDocumentNode<T, Vars>;

/** The pending sign-in of this tab, read once: whatever comes back, it is not used twice. */
function takePending(): Pending | null {
  const stored = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  if (stored === null) return null;
  try {
    const p = JSON.parse(stored) as Partial<Pending>;
    if (
      typeof p.provider !== "string" ||
      typeof p.state !== "string" ||
      (p.intent !== "sign-in" && p.intent !== "link")
    )
      return null;
    return { provider: p.provider, state: p.state, intent: p.intent };
  } catch {
    return null;
  }
}

export function setUpIdentityProviders(app: App): { enter(route: Route): void; userChanged(user: User | null): void } {
  const { client } = app;
  const OAUTH_PROVIDERS: Doc<{ oauthProviders: OAuthProvider[] }> = gql(ops.OAUTH_PROVIDERS);
  const START_OAUTH_SIGN_IN: Doc<{ startOAuthSignIn: { authorizationUrl: string } }> = gql(ops.START_OAUTH_SIGN_IN);
  const FINISH_OAUTH_SIGN_IN: Doc<{ signIn: SignIn }> = gql(`${ops.FINISH_OAUTH_SIGN_IN}\n${app.userFields}`);
  const LINK_OAUTH_ACCOUNT: Doc<{ linkOAuthAccount: LinkedAccount }> = gql(ops.LINK_OAUTH_ACCOUNT);
  const LINKED_ACCOUNTS: Doc<{ linkedAccounts: LinkedAccount[] }> = gql(ops.LINKED_ACCOUNTS);
  const UNLINK_OAUTH_ACCOUNT: Doc<{ unlinkOAuthAccount: boolean }> = gql(ops.UNLINK_OAUTH_ACCOUNT);

  // no-cache: a sign-in carries an access token; the linked accounts change under the page.
  async function mutate<T>(mutation: Doc<T>, variables: Vars = {}): Promise<T> {
    const { data } = await client.mutate({ mutation, variables, fetchPolicy: "no-cache" });
    if (!data) throw new Error("no data");
    return data;
  }

  /**
   * The configured providers, asked once per page load; null when the server
   * does not answer the question (no oauth capability): then the page offers
   * no provider at all.
   */
  let providerList: Promise<OAuthProvider[] | null> | null = null;
  const providers = () => {
    providerList ??= client.query({ query: OAUTH_PROVIDERS }).then(
      ({ data }) => data?.oauthProviders ?? null,
      () => null,
    );
    return providerList;
  };
  const nameOf = async (id: string) => (await providers())?.find((p) => p.id === id)?.name ?? id;

  /** A failure of `startOAuthSignIn`, or of anything that answers with a provider's name in it, in words. */
  function problem(e: ApiError, name: string): string {
    switch (e.code) {
      case "FEATURE_DISABLED":
        return `Sign-in with ${name} is not available on this server.`;
      case "BAD_USER_INPUT":
        return e.field === "redirectUri"
          ? `The server does not accept this page's address as a return address: add ${oauthCallbackUrl()} to its OAUTH_REDIRECT_URIS.`
          : e.message || explain(e);
      case "RATE_LIMITED":
      case "SERVICE_UNAVAILABLE":
      case "NETWORK_ERROR":
        return explain(e);
      default:
        return e.message || explain(e);
    }
  }

  /** Asks the server for the provider's authorization URL, keeps its state in this tab, and goes there. */
  async function startAuthorization(provider: OAuthProvider, intent: Intent): Promise<void> {
    const { startOAuthSignIn } = await mutate(START_OAUTH_SIGN_IN, {
      provider: provider.id,
      redirectUri: oauthCallbackUrl(),
    });
    let url: URL;
    try {
      url = new URL(startOAuthSignIn.authorizationUrl);
    } catch {
      throw new UnusableAuthorizationUrl();
    }
    const state = url.searchParams.get("state");
    // A javascript: or data: URL would run in this page rather than take the browser to a provider.
    if (state === null || (url.protocol !== "https:" && url.protocol !== "http:")) throw new UnusableAuthorizationUrl();
    const pending: Pending = { provider: provider.id, state, intent };
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
    location.assign(url.href);
  }

  /** A button per provider, each starting `intent` with it; a button stays disabled once the browser is leaving. */
  function providerButtons(list: OAuthProvider[], intent: Intent, errorTarget: string): HTMLButtonElement[] {
    return list.map((provider) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = intent === "link" ? "oauth-link" : "oauth-sign-in";
      button.dataset.provider = provider.id;
      button.textContent = intent === "link" ? `Link ${provider.name}` : `Sign in with ${provider.name}`;
      button.onclick = async () => {
        button.disabled = true;
        $(errorTarget).textContent = "";
        try {
          await startAuthorization(provider, intent);
        } catch (error) {
          $(errorTarget).textContent =
            error instanceof UnusableAuthorizationUrl
              ? `The server's answer for ${provider.name} is not a sign-in address.`
              : problem(apiError(error), provider.name);
          button.disabled = false;
        }
      };
      return button;
    });
  }

  // ---- The sign-in page's buttons --------------------------------------------------------------------

  let buttonsShown = false;
  async function showSignInButtons() {
    if (buttonsShown) return;
    buttonsShown = true;
    const list = (await providers()) ?? [];
    $("oauth-sign-in-buttons").replaceChildren(...providerButtons(list, "sign-in", "oauth-sign-in-error"));
    $("oauth-sign-in-section").hidden = list.length === 0;
  }

  // ---- The callback -----------------------------------------------------------------------------------

  let onCallbackPage = false;
  const status = (text: string) => {
    $("oauth-callback-status").textContent = text;
  };
  function fail(text: string, back: "sign-in" | "security" = "sign-in") {
    status("");
    $("oauth-callback-error").textContent = text;
    $("oauth-callback-to-sign-in").hidden = back !== "sign-in";
    $("oauth-callback-to-security").hidden = back !== "security";
  }

  async function enterCallback() {
    status("");
    $("oauth-callback-error").textContent = "";
    $("oauth-callback-to-sign-in").hidden = true;
    $("oauth-callback-to-security").hidden = true;
    const answer = takeOAuthAnswer();
    if (answer === null || (answer.code === null && answer.error === null))
      return fail(
        "This page is where an identity provider sends you back after you sign in there. Nothing to do here.",
      );
    // Read and cleared whatever happens next: a state is good for one answer only.
    const pending = takePending();
    if (pending === null || answer.state === null || answer.state !== pending.state) {
      // Sent nowhere: the code is from a sign-in this tab did not start (a crafted link, another tab, an old one).
      return fail(
        "This sign-in was not started from this page, so it was refused. " +
          "If you meant to sign in, start again from the sign-in page.",
      );
    }
    const name = await nameOf(pending.provider);
    await app.ready(); // who is signed in (a link needs it; a sign-in must not be overwritten by the first `me`)
    if (!onCallbackPage) return;
    if (answer.error !== null) return providerRefused(answer, name, pending.intent);
    if (answer.code === null) return fail(`${name} sent no code back. Please start again.`);
    const input = { provider: pending.provider, code: answer.code, state: answer.state };
    if (pending.intent === "sign-in") await finishSignIn(input, name);
    else await finishLink(input, name);
  }

  /** The provider said no (RFC 6749 §4.1.2.1): its words as text, never as markup, and only for a sign-in this tab started. */
  function providerRefused(answer: OAuthCallback, name: string, intent: Intent) {
    const back = intent === "link" ? "security" : "sign-in";
    if (answer.error === "access_denied") return fail(`You did not allow the sign-in with ${name}.`, back);
    const description = (answer.errorDescription ?? "").slice(0, 300);
    fail(`${name} could not sign you in: ${answer.error}${description ? ` (${description})` : ""}.`, back);
  }

  async function finishSignIn(input: Vars, name: string) {
    status(`Signing you in with ${name}…`);
    try {
      const { signIn } = await mutate(FINISH_OAUTH_SIGN_IN, input);
      app.signedIn(signIn);
      navigate("");
    } catch (error) {
      const e = apiError(error);
      switch (e.code) {
        case "MFA_REQUIRED":
          // The provider vouched for the person; the account has a second factor: ask for it on the home page.
          navigate("");
          app.mfaRequired(e);
          return;
        case "ACCOUNT_EXISTS":
          return fail(
            `An account with this email already exists. Sign in the usual way, then link ${name} on the security page.`,
          );
        case "INVALID_TOKEN":
          return fail(`The sign-in with ${name} expired or was already used. Please start again.`);
        default:
          return fail(problem(e, name));
      }
    }
  }

  async function finishLink(input: Vars, name: string) {
    if (app.user() === null)
      return fail(`You are signed out. Sign in, then link ${name} again from the security page.`);
    status(`Linking ${name} to your account…`);
    try {
      await mutate(LINK_OAUTH_ACCOUNT, input);
      navigate("security");
      $("linked-accounts-result").textContent = `${name} is linked: you can sign in with it.`;
    } catch (error) {
      const e = apiError(error);
      switch (e.code) {
        case "REAUTHENTICATION_REQUIRED":
          return relink(String(input.provider), name);
        case "ACCOUNT_EXISTS":
          return fail(`This ${name} account is already linked to another account here.`, "security");
        case "INVALID_TOKEN":
          return fail(`The link with ${name} expired or was already used. Please start again.`, "security");
        default:
          return fail(problem(e, name), "security");
      }
    }
  }

  /**
   * The link needs a recent sign-in. The provider's code may already be spent
   * (the server consumes the state once), so after "confirm it's you" the link
   * starts again from the provider rather than sending the same code twice.
   */
  async function relink(provider: string, name: string) {
    status(`Linking ${name} needs a recent sign-in.`);
    try {
      await app.confirmItsYou();
      status(`Back to ${name}…`);
      await startAuthorization({ id: provider, name }, "link");
    } catch (error) {
      if (error instanceof Cancelled) return fail(`${name} was not linked.`, "security");
      fail(
        error instanceof UnusableAuthorizationUrl
          ? `The server's answer for ${name} is not a sign-in address.`
          : problem(apiError(error), name),
        "security",
      );
    }
  }

  // ---- The security page's linked accounts ------------------------------------------------------------

  let onSecurityPage = false;
  const when = (iso: string) => new Date(iso).toLocaleString();

  function clearLinkedAccounts() {
    $("linked-accounts").replaceChildren();
    $("oauth-link-buttons").replaceChildren();
    $("linked-accounts-result").textContent = "";
    $("linked-accounts-error").textContent = "";
    $("linked-accounts-section").hidden = true;
  }

  async function loadLinkedAccounts() {
    const list = await providers();
    if (list === null || !onSecurityPage || app.user() === null) return; // a server without identity providers
    const { data } = await client.query({ query: LINKED_ACCOUNTS, fetchPolicy: "no-cache" });
    const linked = data?.linkedAccounts ?? [];
    const names = new Map(list.map((p) => [p.id, p.name]));
    const items = linked.map((account) => {
      const name = names.get(account.provider) ?? account.provider;
      const li = document.createElement("li");
      li.className = "linked-account";
      li.dataset.id = account.id;
      li.dataset.provider = account.provider;
      const strong = document.createElement("strong");
      strong.textContent = name;
      const details = document.createElement("span");
      details.className = "linked-account-details";
      // Text, never markup: the email is whatever the provider sent.
      details.textContent = ` — ${account.email ?? "no email"}, linked ${when(account.createdAt)} `;
      const unlink = document.createElement("button");
      unlink.type = "button";
      unlink.className = "linked-account-unlink";
      unlink.textContent = "Unlink";
      unlink.setAttribute("aria-label", `Unlink ${name}`);
      unlink.onclick = () => void unlinkAccount(account, name, unlink);
      li.append(strong, details, unlink);
      return li;
    });
    $("linked-accounts").replaceChildren(...items);
    $("linked-accounts-empty").hidden = linked.length > 0;
    $("oauth-link-buttons").replaceChildren(...providerButtons(list, "link", "linked-accounts-error"));
    $("linked-accounts-section").hidden = list.length === 0 && linked.length === 0;
  }

  async function unlinkAccount(account: LinkedAccount, name: string, button: HTMLButtonElement) {
    button.disabled = true;
    $("linked-accounts-result").textContent = "";
    $("linked-accounts-error").textContent = "";
    try {
      await app.sensitive(() => mutate(UNLINK_OAUTH_ACCOUNT, { id: account.id }));
      $("linked-accounts-result").textContent = `${name} is no longer linked.`;
      await loadLinkedAccounts();
    } catch (error) {
      if (error instanceof Cancelled) return;
      const e = apiError(error);
      // BAD_USER_INPUT: the last way to sign in (no password, no other identity): the server says so.
      $("linked-accounts-error").textContent =
        e.code === "NOT_FOUND" ? `${name} was already unlinked.` : problem(e, name);
      if (e.code === "NOT_FOUND") await loadLinkedAccounts();
    } finally {
      button.disabled = false;
    }
  }

  async function enterSecurity() {
    clearLinkedAccounts();
    await app.ready();
    try {
      await loadLinkedAccounts();
    } catch (error) {
      $("linked-accounts-section").hidden = false;
      $("linked-accounts-error").textContent = explain(apiError(error));
    }
  }

  return {
    enter(route) {
      onCallbackPage = route === "oauth/callback";
      onSecurityPage = route === "security";
      if (route === "") void showSignInButtons();
      else if (onSecurityPage) void enterSecurity();
      else if (onCallbackPage) void enterCallback();
    },
    userChanged(user) {
      if (user === null) clearLinkedAccounts();
    },
  };
}

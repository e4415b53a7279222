// Routing by path in one page (index.html): the host serves index.html for every
// path below the app's base (README, "Deploying"), and the page shows the view
// for `location.pathname`. Mails link to four of these paths with `?token=…`;
// identity providers send the browser back to `oauth/callback?code=…&state=…`.

export const ROUTES = [
  "",
  "forgot-password",
  "reset-password",
  "verify-email",
  "sign-in-with-email",
  "sign-in-with-link",
  "confirm-email-change",
  "security",
  "oauth/callback",
] as const;
export type Route = (typeof ROUTES)[number];
/** The routes of the mail pages: a page built with VITE_MAIL=off shows the home page there. */
export const MAIL_ROUTES: readonly Route[] = [
  "forgot-password",
  "reset-password",
  "verify-email",
  "sign-in-with-email",
  "sign-in-with-link",
  "confirm-email-change",
];

/** Vite's `base` (`vite build --base /account/`): the app may live below a path, like APP_URL. */
const BASE = import.meta.env.BASE_URL;
/** `?api=` (development, tests) is kept on the page's own links. */
const api = new URLSearchParams(location.search).get("api");

export function routeOf(pathname: string): Route {
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname.replace(/^\/+/, "");
  const name = path.replace(/\/+$/, "");
  return (ROUTES as readonly string[]).includes(name) ? (name as Route) : "";
}

export const pathTo = (route: Route) => `${BASE}${route}${api === null ? "" : `?api=${encodeURIComponent(api)}`}`;

/**
 * The token of a mailed link, taken out of the address bar before anything
 * else runs (this module is evaluated first): once replaced, the URL with the
 * token is neither in the history nor sent as a Referer. It stays in memory
 * for the page's button; nothing is sent until that button is pressed.
 */
function takeToken(): string | null {
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (token === null) return null;
  url.searchParams.delete("token");
  history.replaceState(history.state, "", `${url.pathname}${url.search}${url.hash}`);
  return token;
}

/** What an identity provider sent back to `oauth/callback` (RFC 6749 §4.1.2: a code, or an error). */
export interface OAuthCallback {
  code: string | null;
  state: string | null;
  error: string | null;
  errorDescription: string | null;
}

/** The redirect URI this page gives the server: it must be one of the server's OAUTH_REDIRECT_URIS exactly, so no `?api=`. */
export const oauthCallbackUrl = () => `${location.origin}${BASE}oauth/callback`;

/**
 * The provider's answer, taken out of the address bar before anything else
 * runs, like a mailed token: the authorization code must not stay in the
 * history or reach a Referer. Every parameter goes but `?api=` (providers add
 * their own: `iss`, `scope`, `session_state`, …).
 */
function takeOAuthCallback(): OAuthCallback {
  const url = new URL(location.href);
  const get = (name: string) => url.searchParams.get(name);
  const callback = {
    code: get("code"),
    state: get("state"),
    error: get("error"),
    errorDescription: get("error_description"),
  };
  const kept = api === null ? "" : `?api=${encodeURIComponent(api)}`;
  history.replaceState(history.state, "", `${url.pathname}${kept}${url.hash}`);
  return callback;
}

const linked = { route: routeOf(location.pathname), token: takeToken() };
let oauthCallback = linked.route === "oauth/callback" ? takeOAuthCallback() : null;

/** The provider's answer this page was opened with, once: a second call (Back, then Forward) gets null. */
export function takeOAuthAnswer(): OAuthCallback | null {
  const answer = oauthCallback;
  oauthCallback = null;
  return answer;
}

/** The token the page was opened with, if it was opened at `route`. */
export const tokenFor = (route: Route) => (linked.route === route ? linked.token : null);
/** A token is used once: forget it after the server accepted or refused it. */
export function forgetToken(): void {
  linked.token = null;
}

let render: (route: Route) => void = () => {};

/** Shows the current path's view, and follows the page's own links without reloading (the access token is in memory). */
export function startRouter(renderRoute: (route: Route) => void): void {
  render = renderRoute;
  for (const a of document.querySelectorAll<HTMLAnchorElement>("a[data-route]")) {
    a.href = pathTo(a.dataset.route as Route);
  }
  document.addEventListener("click", (event) => {
    const a = (event.target as Element).closest<HTMLAnchorElement>("a[data-route]");
    if (!a || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(a.dataset.route as Route);
  });
  addEventListener("popstate", () => render(routeOf(location.pathname)));
  render(routeOf(location.pathname));
}

export function navigate(route: Route): void {
  history.pushState(null, "", pathTo(route));
  render(route);
}

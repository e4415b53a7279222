// Routing by path in one page (index.html): the host serves index.html for every
// path below the app's base (README, "Deploying"), and the page shows the view
// for `location.pathname`. Mails link to four of these paths with `?token=…`.

export const ROUTES = [
  "",
  "forgot-password",
  "reset-password",
  "verify-email",
  "sign-in-with-email",
  "sign-in-with-link",
  "confirm-email-change",
  "security",
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

const linked = { route: routeOf(location.pathname), token: takeToken() };

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

/**
 * Where the links in mails point: `APP_URL` + one of these paths +
 * `?token=…` (BEHAVIOUR.md §7; documented in the README). The frontend owns
 * these pages; each shows a button that calls the mutation, because opening a
 * link must consume nothing (mail scanners such as Outlook Safe Links fetch
 * every link before the user sees the message).
 */
export const LINK_PATHS = {
  "verify-email": "/verify-email",
  "reset-password": "/reset-password",
  "email-change": "/confirm-email-change",
  "sign-in": "/sign-in-with-link",
} as const;
export type LinkPurpose = keyof typeof LINK_PATHS;

/** `APP_URL` may carry a path (an app served under /account/): the link keeps it. */
export function linkTo(appUrl: string, purpose: LinkPurpose, token: string): string {
  const url = new URL(appUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${LINK_PATHS[purpose]}`;
  url.search = new URLSearchParams({ token }).toString();
  url.hash = "";
  return url.toString();
}

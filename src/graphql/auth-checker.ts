import { type AuthCheckerFn, createParameterDecorator } from "type-graphql";
import { emailNotVerified, forbidden, unauthenticated } from "../errors";
import type { GraphQLContext, Viewer } from "./context";

/**
 * Loads the viewer for `@Authorized` operations: a valid access token is not
 * enough, its session must still be active (so logout and reuse detection
 * take effect at once, ASVS 7.4.1) and roles come from the database, not the
 * token, so a role change applies to the next request.
 */
export function loadViewer(context: GraphQLContext): Promise<Viewer> {
  context.viewer ??= (async () => {
    const { token } = context;
    if (!token.ok) throw unauthenticated(token.reason);
    // The request's EntityManager only if the check needs it (PostgreSQL): on SQLite it reads on its own connection.
    const viewer = await context.services.sessions.findActive(() => context.em, token.claims.sid, token.claims.sub);
    if (viewer === null) throw unauthenticated("REVOKED");
    return viewer;
  })();
  return context.viewer;
}

/**
 * What a user whose address is not verified may still do with
 * REQUIRE_EMAIL_VERIFICATION on (BEHAVIOUR.md §7): see who they are, manage
 * their sessions, and get the address verified. `logout` and `verifyEmail`
 * need no access token, so they never reach this check.
 */
export const UNVERIFIED_ALLOWED = new Set([
  "me",
  "sessions",
  "logout",
  "logoutAll",
  "revokeSession",
  "requestEmailVerification",
  "verifyEmail",
]);

export const authChecker: AuthCheckerFn<GraphQLContext> = async ({ context, info }, roles) => {
  const { user } = await loadViewer(context);
  if (
    context.services.requireEmailVerification &&
    !user.emailVerified &&
    (info.parentType.name === "Query" || info.parentType.name === "Mutation") &&
    !UNVERIFIED_ALLOWED.has(info.fieldName)
  ) {
    throw emailNotVerified();
  }
  if (roles.length > 0 && !roles.some((role) => (user.roles as string[]).includes(role))) throw forbidden();
  return true;
};

/** Injects the viewer into a resolver argument; use with `@Authorized()`. */
export function CurrentViewer() {
  return createParameterDecorator<GraphQLContext>(({ context }) => loadViewer(context));
}

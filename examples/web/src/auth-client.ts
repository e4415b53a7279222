import { ApolloClient, ApolloLink, CombinedGraphQLErrors, gql, HttpLink, InMemoryCache } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { ErrorLink } from "@apollo/client/link/error";
import { from, of, switchMap } from "rxjs";

const REFRESH = gql`
  mutation Refresh {
    refreshToken {
      accessToken
      expiresIn
    }
  }
`;

export interface AuthClientOptions {
  /** The GraphQL endpoint, e.g. "https://auth.example.com/graphql". */
  uri: string;
  /** Sent as `apollographql-client-name` and `-version` on every request (clientAwareness). */
  name: string;
  version: string;
  /** The server refused to refresh a signed-in tab: its session is over. */
  onSignedOut: (error: { code: string; reason?: string }) => void;
}

/**
 * Apollo Client with the usual auth links:
 * - the access token lives in memory only (never localStorage: out of reach of
 *   injected scripts once the page is gone), sent as `Authorization: Bearer …`;
 * - the refresh token is an HttpOnly cookie the browser sends by itself
 *   (`credentials: "include"`), so this code never sees it;
 * - on UNAUTHENTICATED (EXPIRED; MISSING after a reload) the error link refreshes
 *   once through the cookie and retries; concurrent operations share that one
 *   refresh;
 * - REFRESH_TOKEN_REUSED or INVALID_REFRESH_TOKEN from the refresh: signed out.
 */
export function createAuthClient({ uri, name, version, onSignedOut }: AuthClientOptions) {
  let accessToken: string | null = null;
  let refreshing: Promise<boolean> | null = null;
  let refreshCount = 0;

  /** One refresh at a time: callers arriving while it runs wait for the same answer. */
  function refresh(): Promise<boolean> {
    refreshing ??= client
      // no-cache: tokens stay out of the Apollo cache (and its devtools).
      .mutate<{ refreshToken: { accessToken: string } }>({ mutation: REFRESH, fetchPolicy: "no-cache" })
      .then(({ data }) => {
        accessToken = data?.refreshToken.accessToken ?? null;
        refreshCount++;
        return accessToken !== null;
      })
      .catch((error: unknown) => {
        const e = CombinedGraphQLErrors.is(error) ? error.errors[0]?.extensions : undefined;
        const code = e?.code as string | undefined;
        if ((code === "REFRESH_TOKEN_REUSED" || code === "INVALID_REFRESH_TOKEN") && accessToken !== null) {
          accessToken = null;
          void client.clearStore();
          onSignedOut({ code, reason: e?.reason as string | undefined });
        }
        return false; // a network error keeps the tab signed in: the next operation tries again
      })
      .finally(() => {
        refreshing = null;
      });
    return refreshing;
  }

  // Runs for every request, retries included: the current access token and a fresh request id.
  const authLink = new SetContextLink(({ headers }) => {
    const next: Record<string, string> = { ...headers, "x-request-id": crypto.randomUUID() };
    if (accessToken !== null) next.authorization = `Bearer ${accessToken}`;
    return { headers: next };
  });

  // Resolver errors arrive with HTTP 200 as GraphQL errors, `extensions.code` says which.
  const errorLink = new ErrorLink(({ error, result, operation, forward }) => {
    if (!CombinedGraphQLErrors.is(error) || !result) return;
    if (!error.errors.some((e) => e.extensions?.code === "UNAUTHENTICATED")) return;
    // Sent with an older token than the one now in memory: another operation refreshed already.
    const refreshed = accessToken !== null && operation.getContext().headers?.authorization !== `Bearer ${accessToken}`;
    // What ErrorLink returns is not handled again: one refresh and one retry at most.
    return from(refreshed ? Promise.resolve(true) : refresh()).pipe(
      switchMap((ok) => (ok ? forward(operation) : of(result))),
    );
  });

  const client: ApolloClient = new ApolloClient({
    // errorLink first, so its retry runs through authLink again with the new token.
    link: ApolloLink.from([errorLink, authLink, new HttpLink({ uri, credentials: "include" })]),
    cache: new InMemoryCache(),
    clientAwareness: { name, version },
  });

  return {
    client,
    /** Keep the access token of a sign-in (register, login). */
    signedIn(token: string) {
      accessToken = token;
    },
    /** Forget the token and cached data (the logout mutation clears the cookie). */
    signOut() {
      accessToken = null;
      return client.clearStore();
    },
    /** Refresh now through the cookie; false when there is no session. */
    refresh,
    /** How many refreshes this tab has made (for the test). */
    refreshes: () => refreshCount,
  };
}

export type AuthClient = ReturnType<typeof createAuthClient>;

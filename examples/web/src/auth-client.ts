import { Client, type CombinedError, fetchExchange, gql } from "@urql/core";
import { authExchange } from "@urql/exchange-auth";

const REFRESH = gql`
  mutation Refresh {
    refreshToken {
      accessToken
      expiresIn
    }
  }
`;

/** Codes that mean the refresh-token cookie is gone for good: sign out. */
const SESSION_OVER = new Set(["REFRESH_TOKEN_REUSED", "INVALID_REFRESH_TOKEN"]);

const codeOf = (error: CombinedError | undefined) => error?.graphQLErrors[0]?.extensions?.code as string | undefined;

export interface AuthClient {
  client: Client;
  /** Keep the access token of a sign-in (register/login). */
  signedIn(accessToken: string): void;
  /** Forget the access token (the cookie is cleared by the logout mutation). */
  signOut(): void;
  isSignedIn(): boolean;
  /** How many silent refreshes this tab has made. */
  refreshes(): number;
  /** Refresh now through the cookie; false when the session is over. */
  refresh(): Promise<boolean>;
}

/**
 * urql with the usual auth link:
 * - the access token lives in memory only (never localStorage, out of XSS reach
 *   for longer than the page lives), sent as `Authorization: Bearer …`;
 * - the refresh token is an HttpOnly cookie the browser sends by itself
 *   (`credentials: "include"`), so this code never sees it;
 * - on UNAUTHENTICATED with reason EXPIRED (or MISSING: a fresh page load), the
 *   auth exchange refreshes once through the cookie and retries; concurrent
 *   operations wait for that one refresh;
 * - REFRESH_TOKEN_REUSED or INVALID_REFRESH_TOKEN means the session is over.
 */
export function createAuthClient(url: string, onSignedOut: () => void): AuthClient {
  let accessToken: string | null = null;
  let refreshCount = 0;

  const signOut = () => {
    accessToken = null;
    onSignedOut();
  };

  /** One refresh through the cookie, bypassing the auth exchange. */
  const refreshWith = async (mutate: (client: Client) => Promise<{ data?: any; error?: CombinedError }>) => {
    const result = await mutate(client);
    const token = result.data?.refreshToken?.accessToken as string | undefined;
    if (token) {
      accessToken = token;
      refreshCount++;
      return true;
    }
    if (SESSION_OVER.has(codeOf(result.error) ?? "")) signOut();
    return false;
  };

  const client: Client = new Client({
    url,
    // POST JSON always: Apollo's CSRF prevention refuses simple GET requests.
    preferGetMethod: false,
    requestPolicy: "network-only",
    fetchOptions: { credentials: "include" },
    exchanges: [
      authExchange(async (utils) => ({
        addAuthToOperation(operation) {
          return accessToken ? utils.appendHeaders(operation, { Authorization: `Bearer ${accessToken}` }) : operation;
        },
        didAuthError(error) {
          return error.graphQLErrors.some(
            (e) => e.extensions?.code === "UNAUTHENTICATED" && ["EXPIRED", "MISSING"].includes(e.extensions.reason as string),
          );
        },
        async refreshAuth() {
          await refreshWith(() => utils.mutate(REFRESH, {}));
        },
      })),
      fetchExchange,
    ],
  });

  return {
    client,
    signedIn(token) {
      accessToken = token;
    },
    signOut,
    isSignedIn: () => accessToken !== null,
    refreshes: () => refreshCount,
    refresh: () => refreshWith((c) => c.mutation(REFRESH, {}).toPromise()),
  };
}

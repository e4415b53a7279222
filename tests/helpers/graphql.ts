export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  headers: Headers;
  text: string;
  body: { data?: T | null; errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, any> }> };
}

export interface RequestOptions {
  token?: string;
  headers?: Record<string, string>;
}

/** POSTs one GraphQL operation as a browser or Apollo Client would. */
export async function gql<T = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  options: RequestOptions = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: JSON.parse(text) };
}

/** The first error's code, for terse assertions. */
export const errorCode = (r: GraphQLResponse) => r.body.errors?.[0]?.extensions?.code;

export const PAYLOAD =
  "accessToken tokenType expiresIn refreshToken refreshTokenExpiresAt user { id email roles createdAt }";
export const REGISTER = `mutation Register($email: String!, $password: String!) {
  register(input: { email: $email, password: $password }) { ${PAYLOAD} }
}`;
export const LOGIN = `mutation Login($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) { ${PAYLOAD} }
}`;
export const REFRESH = `mutation Refresh($token: String) { refreshToken(refreshToken: $token) { ${PAYLOAD} } }`;
export const LOGOUT = "mutation Logout($token: String) { logout(refreshToken: $token) }";
export const ME = "query Me { me { id email roles createdAt } }";

/** A refresh token as clients see it: 57 bytes in base64url (README "Refresh tokens"), not a JWT. */
export const REFRESH_TOKEN_SHAPE = /^[A-Za-z0-9_-]{76}$/;

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  refreshTokenExpiresAt: string;
  user: { id: string; email: string; roles: string[] };
}

let counter = 0;
/** A fresh, valid email and a password that passes the policy. */
export function newCredentials(prefix = "user") {
  counter += 1;
  return {
    email: `${prefix}.${process.pid}.${counter}.${Date.now()}@example.com`,
    password: "correct horse battery staple",
  };
}

export async function register(
  url: string,
  credentials = newCredentials(),
): Promise<Tokens & { email: string; password: string }> {
  const r = await gql<{ register: Tokens }>(url, REGISTER, credentials);
  if (!r.body.data?.register) throw new Error(`register failed: ${r.text}`);
  return { ...r.body.data.register, ...credentials };
}

export async function refresh(url: string, token: string) {
  return gql<{ refreshToken: Tokens }>(url, REFRESH, { token });
}

export async function me(url: string, token: string) {
  return gql<{ me: { id: string; email: string } }>(url, ME, {}, { token });
}

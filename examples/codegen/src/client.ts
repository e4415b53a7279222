// A tiny typed GraphQL client on plain fetch: no dependencies beyond graphql-js.
// `example()` is never run; it exists so that `tsc` proves the generated types
// still have the shape the frontend relies on.
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import {
  LoginMutation,
  MeQuery,
  NotesQuery,
  RefreshTokenMutation,
  RegisterMutation,
  SessionsQuery,
} from "./operations";

export interface GraphQLErrorEntry {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: { code?: string } & Record<string, unknown>;
}

export class GraphQLRequestError extends Error {
  constructor(
    message: string,
    readonly errors: readonly GraphQLErrorEntry[],
    readonly status: number,
  ) {
    super(message);
    this.name = "GraphQLRequestError";
  }
}

export interface ClientOptions {
  url: string;
  accessToken?: string;
  /** Send the httpOnly refresh-token cookie (cookie transport). */
  credentials?: RequestCredentials;
}

/** Executes a typed document and returns its typed `data`, or throws on GraphQL/HTTP errors. */
export async function execute<TResult, TVariables extends Record<string, unknown>>(
  options: ClientOptions,
  document: TypedDocumentNode<TResult, TVariables>,
  // Variables may be omitted only when the operation declares none that are required.
  ...[variables]: Record<string, never> extends TVariables ? [variables?: TVariables] : [variables: TVariables]
): Promise<TResult> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/graphql-response+json, application/json",
  };
  if (options.accessToken) headers.authorization = `Bearer ${options.accessToken}`;

  const response = await fetch(options.url, {
    method: "POST",
    headers,
    credentials: options.credentials ?? "same-origin",
    body: JSON.stringify({ query: print(document), variables: variables ?? {} }),
  });

  const body = (await response.json()) as { data?: TResult | null; errors?: GraphQLErrorEntry[] };
  if (body.errors?.length) {
    throw new GraphQLRequestError(body.errors.map((e) => e.message).join("; "), body.errors, response.status);
  }
  if (!response.ok || body.data == null) {
    throw new GraphQLRequestError(`HTTP ${response.status} without data`, [], response.status);
  }
  return body.data;
}

/** The roles this frontend knows how to handle; a new schema role must be handled here first. */
type KnownRole = "USER" | "ADMIN";

/** Compile-only usage: each line below breaks the build if the schema changes shape. */
export async function example(url: string): Promise<void> {
  const { register } = await execute({ url }, RegisterMutation, {
    input: { email: "ada@example.com", password: "correct horse battery staple" },
  });
  const tokenType: string = register.tokenType;
  const createdAt: string = register.user.createdAt;

  const { login } = await execute({ url }, LoginMutation, {
    input: { email: "ada@example.com", password: "correct horse battery staple" },
  });
  const accessToken: string = login.accessToken;
  const email: string = login.user.email;
  const expiresIn: number = login.expiresIn;
  const refreshTokenExpiresAt: string = login.refreshTokenExpiresAt;
  // Null under the cookie transport, so the client has to handle a missing token.
  const refreshToken: string | null | undefined = login.refreshToken;

  const authed: ClientOptions = { url, accessToken };

  const { me } = await execute(authed, MeQuery);
  const roles: Array<KnownRole> = me.roles;
  const isAdmin: boolean = roles.includes("ADMIN");

  const { sessions } = await execute(authed, SessionsQuery);
  for (const session of sessions) {
    const current: boolean = session.current;
    const lastUsedAt: string = session.lastUsedAt;
    const userAgent: string | null | undefined = session.userAgent;
    console.log(session.id, current, lastUsedAt, userAgent ?? "unknown device");
  }

  const { notes } = await execute(authed, NotesQuery, { first: 10 });
  const firstOwnerEmail: string | undefined = notes.edges[0]?.node.owner.email;
  const total: number = notes.totalCount;
  const next: string | null | undefined = notes.pageInfo.hasNextPage ? notes.pageInfo.endCursor : null;
  if (next) {
    const page2 = await execute(authed, NotesQuery, { first: 10, after: next });
    const titles: string[] = page2.notes.edges.map((edge) => edge.node.title);
    console.log(titles);
  }

  const { refreshToken: rotated } = await execute({ url, credentials: "include" }, RefreshTokenMutation, {
    token: refreshToken ?? null,
  });
  const newAccessToken: string = rotated.accessToken;

  // @ts-expect-error Login requires `input`; variables cannot be omitted.
  await execute({ url }, LoginMutation);

  console.log(
    tokenType,
    createdAt,
    accessToken,
    email,
    expiresIn,
    refreshTokenExpiresAt,
    isAdmin,
    firstOwnerEmail,
    total,
    newAccessToken,
    rotated.refreshToken,
  );
}

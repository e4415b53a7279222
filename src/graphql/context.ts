import type { EntityManager } from "@mikro-orm/core";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { VerifiedAccessToken } from "../auth/access-tokens";
import type { ClientInfo } from "../auth/sessions";
import type { SessionRecord, UserSummary } from "../db/stores/session-store";
import { type RefreshTokenTransport, refreshTokenTransport, type TransportMode } from "../http/refresh-token-transport";
import type { Services } from "../services";

/** The signed-in user and the session of their access token, loaded once per request. */
export interface Viewer {
  user: UserSummary;
  session: SessionRecord;
}

export interface GraphQLContext {
  /**
   * A fork per request: nothing in its identity map outlives the request.
   * Made at first use: the session check alone (`me`) needs none.
   */
  readonly em: EntityManager;
  services: Services;
  client: ClientInfo;
  refreshTokens: RefreshTokenTransport;
  /** What the Authorization header said, decoded but not yet checked against the database. */
  token: VerifiedAccessToken | { ok: false; reason: "MISSING" };
  viewer?: Promise<Viewer>;
}

// RFC 6750 §2.1; the scheme is case-insensitive (RFC 9110 §11.1).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
/** `Bearer` with nothing after it: what `Bearer ${token}` sends when the client has no token yet. */
const EMPTY_BEARER = /^\s*(Bearer\s*)?$/i;

/**
 * Decodes the Bearer header and never throws: a stale or broken token must
 * not block operations that need no user (login, register, refreshToken).
 * Whether the token is good enough is decided by the auth checker.
 */
export function createContext(
  request: FastifyRequest,
  reply: FastifyReply,
  fork: () => EntityManager,
  services: Services,
  transport: TransportMode,
): GraphQLContext {
  const header = request.headers.authorization;
  let token: GraphQLContext["token"];
  if (header === undefined || EMPTY_BEARER.test(header)) token = { ok: false, reason: "MISSING" };
  else {
    const match = BEARER.exec(header);
    token = match?.[1] ? services.accessTokens.verify(match[1]) : { ok: false, reason: "INVALID" };
  }
  return new RequestContext(fork, services, token, {
    client: { ip: request.ip ?? null, userAgent: request.headers["user-agent"] ?? null },
    refreshTokens: refreshTokenTransport(transport, request, reply),
  });
}

/**
 * The context as a class so `em` can be a getter on the prototype: Apollo
 * copies the context per operation with `Object.assign` (its `cloneObject`),
 * which would call an own getter and fork on every request. The fork's state
 * is one object both copies share, so the copy Apollo runs with forks once.
 */
class RequestContext implements GraphQLContext {
  private readonly lazy: { fork: () => EntityManager; em?: EntityManager };
  client: ClientInfo;
  refreshTokens: RefreshTokenTransport;
  viewer?: Promise<Viewer>;

  constructor(
    fork: () => EntityManager,
    readonly services: Services,
    readonly token: GraphQLContext["token"],
    request: { client: ClientInfo; refreshTokens: RefreshTokenTransport },
  ) {
    this.lazy = { fork };
    this.client = request.client;
    this.refreshTokens = request.refreshTokens;
  }

  get em(): EntityManager {
    this.lazy.em ??= this.lazy.fork();
    return this.lazy.em;
  }
}

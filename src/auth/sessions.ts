import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import type { Clock } from "../clock";
import { isUuid } from "../db/ids";
import type { Executor } from "../db/sql";
import type {
  SessionEndReason,
  SessionForRefresh,
  SessionRecord,
  SessionStore,
  UserSummary,
} from "../db/stores/session-store";
import { transaction } from "../db/transaction";
import { invalidRefreshToken, notFound, refreshTokenReused } from "../errors";
import type { AccessTokens } from "./access-tokens";
import type { AuthEventSink } from "./events";
import { newSessionSecret, parseRefreshToken, type RefreshTokenProofs } from "./refresh-tokens";
import {
  decideLogout,
  decideRefresh,
  type PresentedGeneration,
  type RefreshPolicy,
  refreshTokenExpiry,
} from "./rotation";
import { SessionAdministration } from "./session-administration";

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

/** What a sign-in or a rotation hands to the client. */
export interface IssuedTokens {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  user: UserSummary;
  sessionId: string;
}

export interface SessionPolicy extends RefreshPolicy {
  /** Absolute lifetime of a session, seconds. */
  sessionMaxAge: number;
}

/** User-Agent headers are cut to this many characters before they are stored. */
export const MAX_USER_AGENT_LENGTH = 512;

type RotationOutcome =
  | { kind: "issued"; found: SessionForRefresh; generation: number; keyId: Buffer | undefined; lastUsedAt: Date }
  | { kind: "reused"; userId: string; sessionId: string }
  | { kind: "invalid"; reason: string };

type ParsedRefreshToken = NonNullable<ReturnType<typeof parseRefreshToken>>;

/** Counts an attempt against a limit, on the connection or transaction given; throws RATE_LIMITED when used up. */
export type Admission = (em: Executor) => Promise<void>;
const admitAll: Admission = async () => {};

/**
 * Sessions and refresh-token rotation (BEHAVIOUR.md §6, RFC 9700 §4.14.2).
 * Each session keeps its refresh state in a few columns: a generation
 * counter, the time of the last exchange and a retirement floor. The decision
 * is the pure `decideRefresh`; this class reads the state under the session's
 * lock, asks it, writes the outcome and mints the tokens.
 */
export class Sessions {
  private readonly administration: SessionAdministration;

  constructor(
    private readonly store: SessionStore,
    private readonly proofs: RefreshTokenProofs,
    private readonly accessTokens: AccessTokens,
    private readonly policy: SessionPolicy,
    private readonly clock: Clock,
    private readonly events: AuthEventSink,
  ) {
    this.administration = new SessionAdministration(store, clock);
  }

  /**
   * Starts a session for `user` in the caller's transaction (the user's row
   * must already be written in it), and issues its first tokens.
   */
  async start(tx: EntityManager, user: UserSummary, client: ClientInfo, amr: readonly string[]): Promise<IssuedTokens> {
    const now = this.clock.now();
    const session = {
      id: randomUUID(),
      secret: newSessionSecret(),
      expiresAt: new Date(now.getTime() + this.policy.sessionMaxAge * 1000),
    };
    await this.store.insert(tx, {
      ...session,
      userId: user.id,
      now,
      keyId: this.proofs.currentKeyId,
      userAgent: client.userAgent?.slice(0, MAX_USER_AGENT_LENGTH) ?? null,
      ip: client.ip,
      amr,
    });
    const refreshToken = this.proofs.mint(session, 0);
    return this.tokensFor(
      user,
      { id: session.id, authenticatedAt: now, amr: [...amr] },
      refreshToken,
      refreshTokenExpiry({ lastUsedAt: now, ...session }, this.policy),
    );
  }

  /**
   * `refreshToken(T)`: rotation, the grace path, theft detection or a
   * refusal, as `decideRefresh` says.
   *
   * `admit` counts the attempt against a rate limit and throws when it is used
   * up. Where the database serialises writers anyway (SQLite), it runs as the
   * first statement of the rotation's own transaction: one commit instead of
   * two, and a refused attempt rotates nothing. Elsewhere (PostgreSQL) it runs
   * on its own before, so the counter's row, shared by every client behind one
   * address, is never locked for the length of a rotation.
   */
  async rotate(
    em: EntityManager,
    presented: string,
    client: ClientInfo,
    admit: Admission = admitAll,
  ): Promise<IssuedTokens> {
    const outcome = await this.withLockedSession(
      em,
      presented,
      admit,
      async (tx, found, token): Promise<RotationOutcome> => {
        const now = this.clock.now();
        const decision = decideRefresh(found.refresh, token, now, this.policy);
        switch (decision.outcome) {
          case "rotate": {
            const keyId = this.proofs.currentKeyId;
            await this.store.recordRefresh(tx, found.session.id, {
              generation: decision.generation,
              rotatedAt: now,
              retiredBelow: found.refresh.retiredBelow,
              lastUsedAt: now,
              keyId,
            });
            return { kind: "issued", found, generation: decision.generation, keyId, lastUsedAt: now };
          }
          case "grace":
            // Nothing is written: the same next token, made again with the key that first made it.
            return {
              kind: "issued",
              found,
              generation: decision.generation,
              keyId: found.refresh.keyId ?? undefined,
              lastUsedAt: found.refresh.lastUsedAt,
            };
          case "theft":
            await this.store.end(tx, found.session.id, "REFRESH_TOKEN_REUSED", now);
            return { kind: "reused", userId: found.user.id, sessionId: found.session.id };
          case "retired":
            return { kind: "invalid", reason: "RETIRED" };
          case "invalid":
            return { kind: "invalid", reason: decision.reason };
        }
      },
    );

    if (outcome?.kind === "issued") {
      const { found, generation, keyId, lastUsedAt } = outcome;
      const refreshToken = this.proofs.mint({ id: found.session.id, secret: found.refresh.secret }, generation, keyId);
      // The grace path's key was removed from SECRET_KEYS since: that token can no longer be made.
      if (refreshToken !== null) {
        this.events({
          event: "refresh",
          outcome: "success",
          userId: found.user.id,
          sessionId: found.session.id,
          ip: client.ip,
        });
        const expiresAt = refreshTokenExpiry({ lastUsedAt, expiresAt: found.session.expiresAt }, this.policy);
        return this.tokensFor(found.user, found.session, refreshToken, expiresAt);
      }
    }
    if (outcome?.kind === "reused") {
      this.events({
        event: "refresh_token_reused",
        outcome: "failure",
        reason: "SESSION_ENDED",
        userId: outcome.userId,
        sessionId: outcome.sessionId,
        ip: client.ip,
      });
      throw refreshTokenReused();
    }
    const reason = outcome === undefined ? "UNKNOWN" : outcome.kind === "invalid" ? outcome.reason : "KEY_REMOVED";
    this.events({ event: "refresh", outcome: "failure", reason, ip: client.ip });
    throw invalidRefreshToken();
  }

  /**
   * `logout(T)`: ends T's session. Idempotent for a token this server issued
   * to that session; a forged, unknown or retired token is an error and
   * changes nothing.
   */
  async logout(em: EntityManager, presented: string, client: ClientInfo): Promise<void> {
    const ended = await this.withLockedSession(em, presented, admitAll, async (tx, found, token) => {
      if (decideLogout(found.refresh, token).outcome !== "end") return null;
      return (await this.store.end(tx, found.session.id, "LOGOUT", this.clock.now())) ? found : false;
    });
    if (ended === undefined || ended === null) throw invalidRefreshToken();
    if (ended !== false) {
      this.events({
        event: "logout",
        outcome: "success",
        userId: ended.user.id,
        sessionId: ended.session.id,
        ip: client.ip,
      });
    }
  }

  /**
   * For a password change or reset, in the caller's transaction, after it
   * locked the user's sessions: retires every refresh token of the kept
   * session issued so far, grace path included (§6.6), and issues the next.
   * Null when the session is no longer active.
   */
  async retireAndReissue(tx: EntityManager, sessionId: string): Promise<IssuedTokens | null> {
    const found = await this.store.lockForRefresh(tx, sessionId);
    const now = this.clock.now();
    if (found === null || found.session.endedAt !== null || found.session.expiresAt <= now) return null;
    const generation = found.refresh.generation + 1;
    const keyId = this.proofs.currentKeyId;
    await this.store.recordRefresh(tx, sessionId, {
      generation,
      rotatedAt: null,
      retiredBelow: generation,
      lastUsedAt: now,
      keyId,
    });
    const refreshToken = this.proofs.mint({ id: sessionId, secret: found.refresh.secret }, generation);
    const expiresAt = refreshTokenExpiry({ lastUsedAt: now, expiresAt: found.session.expiresAt }, this.policy);
    return this.tokensFor(found.user, found.session, refreshToken, expiresAt);
  }

  /**
   * `reauthenticate`: the session proved who the user is again, now, by
   * `amr`. Its `auth_time` and `amr` change (what the next access tokens
   * say); null when the session is no longer active.
   *
   * The refresh state is left alone: re-authenticating is no sign that a
   * token leaked (unlike a password change, §6.6), and rotating here would
   * make the refresh token another tab or a lost response holds look stolen
   * once the grace period is over, ending the session the user just proved.
   * The payload's refresh token is the session's current one, made again
   * with the key that first made it. Only when that cannot be done (the key
   * was removed from SECRET_KEYS, or the session was carried over from
   * version 1 and never rotated) is it rotated, exactly as `refreshToken`
   * would, grace path included.
   */
  async renewAuthentication(
    em: EntityManager,
    sessionId: string,
    amr: readonly string[],
  ): Promise<IssuedTokens | null> {
    return transaction(em, async (tx) => {
      const found = await this.store.lockForRefresh(tx, sessionId);
      const now = this.clock.now();
      if (found === null || found.session.endedAt !== null || found.session.expiresAt <= now) return null;
      await this.store.recordReauthentication(tx, sessionId, now, amr);
      const session = { ...found.session, authenticatedAt: now, amr: [...amr] };
      const { refresh } = found;
      const current =
        refresh.keyId === null
          ? null
          : this.proofs.mint({ id: sessionId, secret: refresh.secret }, refresh.generation, refresh.keyId);
      if (current !== null) {
        const expiresAt = refreshTokenExpiry(
          { lastUsedAt: refresh.lastUsedAt, expiresAt: session.expiresAt },
          this.policy,
        );
        return this.tokensFor(found.user, session, current, expiresAt);
      }
      const generation = refresh.generation + 1;
      const keyId = this.proofs.currentKeyId;
      await this.store.recordRefresh(tx, sessionId, {
        generation,
        rotatedAt: now,
        retiredBelow: refresh.retiredBelow,
        lastUsedAt: now,
        keyId,
      });
      const next = this.proofs.mint({ id: sessionId, secret: refresh.secret }, generation);
      return this.tokensFor(
        found.user,
        session,
        next,
        refreshTokenExpiry({ lastUsedAt: now, expiresAt: session.expiresAt }, this.policy),
      );
    });
  }

  /**
   * A user's active sessions, newest first: at most a page of them (the 100
   * most recent). Nothing else caps how many sessions a user has, and the
   * cost limit (graphql/cost-limit.ts) counts this list as one full page.
   */
  listActive(em: EntityManager, userId: string): Promise<SessionRecord[]> {
    return this.administration.listActive(em, userId);
  }

  /** Ends every active session of a user (all, or all but `except`); see `SessionAdministration.endAll`. */
  endAll(em: EntityManager, userId: string, reason: SessionEndReason, except?: string): Promise<number> {
    return this.administration.endAll(em, userId, reason, except);
  }

  /** `endAll` inside a transaction of the caller's (a password change). */
  endAllLocked(tx: EntityManager, userId: string, reason: SessionEndReason, except?: string): Promise<number> {
    return this.administration.endAllLocked(tx, userId, reason, except);
  }

  /** Signs the user out everywhere, this session too. */
  async logoutAll(em: EntityManager, userId: string, client: ClientInfo): Promise<number> {
    const ended = await this.endAll(em, userId, "LOGOUT_ALL");
    this.events({ event: "logout_all", outcome: "success", userId, ip: client.ip });
    return ended;
  }

  /** Ends one of the user's sessions; someone else's or an unknown id is NOT_FOUND, never FORBIDDEN. */
  async revoke(em: EntityManager, userId: string, sessionId: string, client: ClientInfo): Promise<void> {
    const session = isUuid(sessionId) ? await this.store.findOfUser(em, userId, sessionId) : null;
    if (session === null) throw notFound("Session");
    if (await this.store.end(em, sessionId, "REVOKED", this.clock.now())) {
      this.events({ event: "session_revoked", outcome: "success", userId, sessionId, ip: client.ip });
    }
  }

  /**
   * The per-request check, outside any transaction: the session an access
   * token names, if it is the user's and active, with the user. `em` is asked
   * for only when the check goes through the ORM's connection.
   */
  findActive(
    em: () => EntityManager,
    sessionId: string,
    userId: string,
  ): Promise<{ session: SessionRecord; user: UserSummary } | null> {
    return this.store.findActiveWithUser(em, sessionId, userId, this.clock.now());
  }

  /** The session a token names: in a version 2 token itself, a version 1 token's by its hash. */
  private async sessionIdOf(em: EntityManager, token: ParsedRefreshToken): Promise<string | null> {
    return token.format === 2 ? token.sessionId : this.store.sessionIdOfLegacyToken(em, token.hash);
  }

  /**
   * Finds the session a presented token names and runs `body` in a
   * transaction holding that session's lock, with what the token proves.
   * Undefined when the token names no session (nothing is locked then).
   */
  private async withLockedSession<T>(
    em: EntityManager,
    presented: string,
    admit: Admission,
    body: (tx: Executor, found: SessionForRefresh, token: PresentedGeneration) => Promise<T>,
  ): Promise<T | undefined> {
    // Where writers are serialised (SQLite) the count joins the transaction; else it goes first, on its own.
    const folded = this.store.writersAreSerialised;
    if (!folded) await admit(em);
    const token = parseRefreshToken(presented);
    const sessionId = token === null ? null : await this.sessionIdOf(em, token);
    if (token === null || sessionId === null) {
      if (folded) await admit(em);
      return undefined;
    }
    return this.store.refreshTransaction(em, async (tx) => {
      if (folded) await admit(tx);
      const found = await this.store.lockForRefresh(tx, sessionId);
      if (found === null) return undefined;
      // A version 1 token is known by its hash alone, and was generation 0 of its carried-over session.
      const presentedGeneration =
        token.format === 2
          ? { generation: token.generation, authentic: this.proofs.isAuthentic(token, found.refresh.secret) }
          : { generation: 0, authentic: true };
      return body(tx, found, presentedGeneration);
    });
  }

  private tokensFor(
    user: UserSummary,
    session: Pick<SessionRecord, "id" | "authenticatedAt" | "amr">,
    refreshToken: string,
    expiresAt: Date,
  ): IssuedTokens {
    return {
      accessToken: this.accessTokens.sign({
        userId: user.id,
        sessionId: session.id,
        roles: user.roles,
        authTime: session.authenticatedAt,
        amr: session.amr,
      }),
      expiresIn: this.accessTokens.ttlSeconds,
      refreshToken,
      refreshTokenExpiresAt: expiresAt,
      user,
      sessionId: session.id,
    };
  }
}

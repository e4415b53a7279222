import { randomUUID } from "node:crypto";
import type { EntityManager, FilterQuery } from "@mikro-orm/core";
import { RefreshToken, Session, type SessionEndReason, sessionIsActive, User } from "../db/entities";
import { isUuid } from "../db/ids";
import { dateOf, execute, queryRows, type Row } from "../db/sql";
import { invalidRefreshToken, notFound, refreshTokenReused } from "../errors";
import type { AccessTokens } from "./access-tokens";
import type { AuthEventSink } from "./events";
import { generateRefreshToken, hashRefreshToken, looksLikeRefreshToken } from "./refresh-tokens";

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
  user: User;
  session: Session;
}

export interface SessionPolicy {
  /** Idle lifetime of a refresh token, seconds. */
  refreshTokenTtl: number;
  /** Absolute lifetime of a session, seconds. */
  sessionMaxAge: number;
  /** Seconds during which the newest used token may come back (lost response, several tabs). */
  reuseGrace: number;
  /**
   * Serialise rotations of one session with a row lock (SELECT … FOR UPDATE):
   * needed where several connections or instances write at once (PostgreSQL).
   * SQLite transactions are serial already.
   */
  lockRows: boolean;
}

/** A presented refresh token as read for rotation. */
interface TokenState {
  id: string;
  usedAt: Date | null;
  expiresAt: Date;
}

/**
 * Outcome of the rotation transaction; a reuse must commit before it is
 * reported. `sessionRow` is the session and user as they stand after it.
 */
type Rotation =
  | { kind: "rotated"; sessionRow: Row; refreshToken: string; expiresAt: Date }
  | { kind: "invalid" }
  | { kind: "reused"; userId: string; sessionId: string };

const MAX_USER_AGENT_LENGTH = 512;

// The hot paths (the session check on every request, and rotation) are
// hand-written SQL mapped into managed entities: through MikroORM's query
// building and unit of work they cost several times the statements themselves
// (bench/RESULTS.md). The same SQL runs on SQLite and PostgreSQL.
const SESSION_AND_USER = `
  s.id as s_id, s.user_id as s_user_id, s.created_at as s_created_at, s.last_used_at as s_last_used_at,
  s.expires_at as s_expires_at, s.ended_at as s_ended_at, s.end_reason as s_end_reason,
  s.user_agent as s_user_agent, s.ip as s_ip,
  u.id as u_id, u.email as u_email, u.password_hash as u_password_hash, u.roles as u_roles,
  u.created_at as u_created_at, u.updated_at as u_updated_at`;
const TOKEN = "t.id as t_id, t.used_at as t_used_at, t.expires_at as t_expires_at";

const VIEWER_SQL = `select ${SESSION_AND_USER}
from sessions s join users u on u.id = s.user_id
where s.id = ? and s.user_id = ?`;
/** SQLite: one read, as its transactions run one at a time. */
const ROTATION_READ_SQL = `select ${TOKEN}, ${SESSION_AND_USER}
from refresh_tokens t join sessions s on s.id = t.session_id join users u on u.id = s.user_id
where t.token_hash = ?`;
/** PostgreSQL: lock the session first, then read the token under the lock (a concurrent rotation may have just used it). */
const LOCK_SESSION_OF_TOKEN_SQL = `select ${SESSION_AND_USER}
from sessions s join users u on u.id = s.user_id
where s.id = (select session_id from refresh_tokens where token_hash = ?)
for update of s`;
const TOKEN_READ_SQL = `select ${TOKEN} from refresh_tokens t where t.token_hash = ?`;
const USED_CHILDREN_SQL = "select count(*) as n from refresh_tokens where parent_id = ? and used_at is not null";
const MARK_USED_SQL = "update refresh_tokens set used_at = ? where id = ?";
const TOUCH_SESSION_SQL = "update sessions set last_used_at = ? where id = ?";
const END_SESSION_SQL = "update sessions set ended_at = ?, end_reason = ? where id = ?";
const INSERT_TOKEN_SQL = `insert into refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, used_at)
values (?, ?, ?, ?, ?, ?, null)`;

/** The columns of one table out of a joined row, by alias prefix. */
function columns(row: Row, prefix: string): Row {
  const out: Row = {};
  for (const key in row) if (key.startsWith(prefix)) out[key.slice(prefix.length)] = row[key];
  return out;
}

/** A `SESSION_AND_USER` row as a managed Session with its User, in `em`'s identity map. */
function mapSession(em: EntityManager, row: Row): Session {
  em.map(User, columns(row, "u_"));
  return em.map(Session, columns(row, "s_"));
}

/**
 * Sessions and refresh-token rotation (RFC 9700 §4.14.2). A session is a tree
 * of refresh tokens: each token is exchanged once for a child, and a used
 * token coming back outside the grace rule means two parties hold the
 * session, so the whole session ends (theft detection).
 */
export class Sessions {
  constructor(
    private readonly accessTokens: AccessTokens,
    private readonly policy: SessionPolicy,
    private readonly events: AuthEventSink,
  ) {}

  /**
   * Creates a session and its first refresh token in `em`'s unit of work; the
   * caller's single flush writes them atomically with whatever else it changed.
   */
  start(em: EntityManager, user: User, client: ClientInfo, now = new Date()): IssuedTokens {
    const session = em.create(Session, {
      user,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: new Date(now.getTime() + this.policy.sessionMaxAge * 1000),
      userAgent: client.userAgent?.slice(0, MAX_USER_AGENT_LENGTH) ?? null,
      ip: client.ip,
    });
    return this.issue(em, session, null, now);
  }

  /**
   * Exchanges a refresh token for a new pair. Read, check and write happen in
   * one transaction, so concurrent calls with one token see each other's use.
   */
  async rotate(em: EntityManager, presented: string, client: ClientInfo, now = new Date()): Promise<IssuedTokens> {
    if (!looksLikeRefreshToken(presented)) throw invalidRefreshToken();
    const tokenHash = hashRefreshToken(presented);

    const outcome = await em.transactional(async (tx): Promise<Rotation> => {
      const found = await this.readForRotation(tx, tokenHash);
      if (found === null) return { kind: "invalid" };
      const { token, sessionRow } = found;
      const sessionId = String(sessionRow.s_id);
      const sessionEnd = dateOf(sessionRow.s_expires_at);
      const endedAt = sessionRow.s_ended_at == null ? null : dateOf(sessionRow.s_ended_at);
      if (!sessionIsActive(endedAt, sessionEnd, now)) return { kind: "invalid" };

      if (token.usedAt === null) {
        if (token.expiresAt <= now) return { kind: "invalid" };
        await execute(tx, MARK_USED_SQL, [now, token.id]);
      } else if (!(await this.mayBePresentedAgain(tx, token, now))) {
        await execute(tx, END_SESSION_SQL, [now, "REFRESH_TOKEN_REUSED" satisfies SessionEndReason, sessionId]);
        return { kind: "reused", userId: String(sessionRow.u_id), sessionId };
      }
      await execute(tx, TOUCH_SESSION_SQL, [now, sessionId]);
      const refreshToken = generateRefreshToken();
      const expiresAt = this.refreshTokenExpiry(sessionEnd, now);
      await execute(tx, INSERT_TOKEN_SQL, [
        randomUUID(),
        sessionId,
        hashRefreshToken(refreshToken),
        token.id,
        now,
        expiresAt,
      ]);
      return { kind: "rotated", sessionRow: { ...sessionRow, s_last_used_at: now }, refreshToken, expiresAt };
    });

    switch (outcome.kind) {
      case "rotated": {
        const session = mapSession(em, outcome.sessionRow);
        this.events({
          event: "refresh",
          outcome: "success",
          userId: session.user.id,
          sessionId: session.id,
          ip: client.ip,
        });
        return this.tokensFor(session, outcome.refreshToken, outcome.expiresAt);
      }
      case "reused":
        this.events({
          event: "refresh_token_reused",
          outcome: "failure",
          reason: "SESSION_ENDED",
          userId: outcome.userId,
          sessionId: outcome.sessionId,
          ip: client.ip,
        });
        throw refreshTokenReused();
      case "invalid":
        this.events({ event: "refresh", outcome: "failure", reason: "INVALID_REFRESH_TOKEN", ip: client.ip });
        throw invalidRefreshToken();
    }
  }

  /**
   * Ends the session a refresh token belongs to. Idempotent for a token this
   * server issued (its session may already have ended); an unknown token is
   * an error so a client learns its token is garbage.
   */
  async endByRefreshToken(
    em: EntityManager,
    presented: string,
    client: ClientInfo,
    now = new Date(),
  ): Promise<Session> {
    if (!looksLikeRefreshToken(presented)) throw invalidRefreshToken();
    const token = await em.findOne(RefreshToken, { tokenHash: hashRefreshToken(presented) }, { populate: ["session"] });
    if (token === null) throw invalidRefreshToken();
    if (token.session.endedAt === null) {
      this.endSession(token.session, "LOGOUT", now);
      await em.flush();
      this.events({
        event: "logout",
        outcome: "success",
        userId: token.session.user.id,
        sessionId: token.session.id,
        ip: client.ip,
      });
    }
    return token.session;
  }

  /**
   * Sessions that can still be used: not ended, before their absolute end, and
   * refreshed (or started) within the idle lifetime of their refresh tokens.
   */
  activeFilter(userId: string, now = new Date()) {
    return {
      user: userId,
      endedAt: null,
      expiresAt: { $gt: now },
      lastUsedAt: { $gt: new Date(now.getTime() - this.policy.refreshTokenTtl * 1000) },
    };
  }

  /** A user's active sessions, newest first. */
  listActive(em: EntityManager, userId: string, now = new Date()): Promise<Session[]> {
    return em.find(Session, this.activeFilter(userId, now), { orderBy: { createdAt: "desc", id: "desc" } });
  }

  /**
   * Ends a user's active sessions (all, or all but one) in one statement;
   * their refresh and access tokens stop working at once. Returns how many ended.
   */
  endAll(
    em: EntityManager,
    userId: string,
    reason: SessionEndReason,
    { except, now = new Date() }: { except?: string; now?: Date } = {},
  ): Promise<number> {
    const where: FilterQuery<Session> = {
      ...this.activeFilter(userId, now),
      ...(except ? { id: { $ne: except } } : {}),
    };
    return em.nativeUpdate(Session, where, { endedAt: now, endReason: reason });
  }

  /** Signs the user out everywhere, this session too. */
  async logoutAll(em: EntityManager, userId: string, client: ClientInfo): Promise<number> {
    const ended = await this.endAll(em, userId, "LOGOUT_ALL");
    this.events({ event: "logout_all", outcome: "success", userId, ip: client.ip });
    return ended;
  }

  /** Ends one of the user's sessions; someone else's or an unknown id is NOT_FOUND, never FORBIDDEN. */
  async revoke(
    em: EntityManager,
    userId: string,
    sessionId: string,
    client: ClientInfo,
    now = new Date(),
  ): Promise<void> {
    const session = isUuid(sessionId) ? await em.findOne(Session, { id: sessionId, user: userId }) : null;
    if (session === null) throw notFound("Session");
    if (session.endedAt === null) {
      this.endSession(session, "REVOKED", now);
      await em.flush();
      this.events({ event: "session_revoked", outcome: "success", userId, sessionId, ip: client.ip });
    }
  }

  /**
   * Issues a fresh pair for a session that stays (after a password change) and
   * retires its unused refresh tokens, so a copy taken before the change is useless.
   */
  async reissue(em: EntityManager, session: Session, now = new Date()): Promise<IssuedTokens> {
    await em.nativeUpdate(RefreshToken, { session, usedAt: null, expiresAt: { $gt: now } }, { expiresAt: now });
    session.lastUsedAt = now;
    return this.issue(em, session, null, now);
  }

  /**
   * Deletes what can no longer be used and is older than `retentionDays`:
   * ended or expired sessions (with their tokens) and unused expired tokens.
   * Used tokens of live sessions are kept: they are how reuse is detected.
   */
  async prune(
    em: EntityManager,
    retentionDays: number,
    now = new Date(),
  ): Promise<{ sessions: number; refreshTokens: number }> {
    const before = new Date(now.getTime() - retentionDays * 86_400_000);
    return em.transactional(async (tx) => {
      const refreshTokens = await tx.nativeDelete(RefreshToken, { usedAt: null, expiresAt: { $lt: before } });
      const sessionIds = (
        await tx.find(
          Session,
          { $or: [{ endedAt: { $lt: before } }, { expiresAt: { $lt: before } }] },
          { fields: ["id"] },
        )
      ).map((s) => s.id);
      const tokensOfSessions = sessionIds.length
        ? await tx.nativeDelete(RefreshToken, { session: { $in: sessionIds } })
        : 0;
      const sessions = sessionIds.length ? await tx.nativeDelete(Session, { id: { $in: sessionIds } }) : 0;
      return { sessions, refreshTokens: refreshTokens + tokensOfSessions };
    });
  }

  /**
   * The session an access token names, if it still belongs to that user and is
   * active, with its user. It runs on every authenticated request: one
   * hand-written join.
   */
  async findActive(em: EntityManager, sessionId: string, userId: string, now = new Date()): Promise<Session | null> {
    const [row] = await queryRows(em, VIEWER_SQL, [sessionId, userId]);
    if (row === undefined) return null;
    const session = mapSession(em, row);
    return session.isActive(now) ? session : null;
  }

  /** The presented token, and its session and user as a joined row; null for an unknown token. */
  private async readForRotation(
    tx: EntityManager,
    tokenHash: string,
  ): Promise<{ token: TokenState; sessionRow: Row } | null> {
    let token: Row | undefined;
    let sessionRow: Row | undefined;
    if (this.policy.lockRows) {
      [sessionRow] = await queryRows(tx, LOCK_SESSION_OF_TOKEN_SQL, [tokenHash]);
      if (sessionRow === undefined) return null;
      [token] = await queryRows(tx, TOKEN_READ_SQL, [tokenHash]);
    } else {
      [token] = await queryRows(tx, ROTATION_READ_SQL, [tokenHash]);
      sessionRow = token;
    }
    if (token === undefined || sessionRow === undefined) return null;
    return {
      token: {
        id: String(token.t_id),
        usedAt: token.t_used_at == null ? null : dateOf(token.t_used_at),
        expiresAt: dateOf(token.t_expires_at),
      },
      sessionRow,
    };
  }

  /**
   * The grace rule of BEHAVIOUR.md: a used token may come back within the
   * grace period of its first use as long as no token issued from it has been
   * used, so parallel tabs and lost responses do not sign the user out.
   */
  private async mayBePresentedAgain(tx: EntityManager, token: TokenState, now: Date): Promise<boolean> {
    if (token.usedAt === null) return true;
    if (now.getTime() - token.usedAt.getTime() > this.policy.reuseGrace * 1000) return false;
    const [row] = await queryRows(tx, USED_CHILDREN_SQL, [token.id]);
    return Number(row?.n ?? 0) === 0;
  }

  private endSession(session: Session, reason: SessionEndReason, now: Date): void {
    session.endedAt = now;
    session.endReason = reason;
  }

  /** A new refresh token for `session` in `em`'s unit of work, and the access token to go with it. */
  private issue(em: EntityManager, session: Session, parentId: string | null, now: Date): IssuedTokens {
    const refreshToken = generateRefreshToken();
    const expiresAt = this.refreshTokenExpiry(session.expiresAt, now);
    em.create(RefreshToken, {
      session,
      tokenHash: hashRefreshToken(refreshToken),
      parentId,
      createdAt: now,
      expiresAt,
    });
    return this.tokensFor(session, refreshToken, expiresAt);
  }

  /** Idle expiry, but never past the session's absolute end (RFC 9700 §4.14.2). */
  private refreshTokenExpiry(sessionEnd: Date, now: Date): Date {
    return new Date(Math.min(now.getTime() + this.policy.refreshTokenTtl * 1000, sessionEnd.getTime()));
  }

  private tokensFor(session: Session, refreshToken: string, expiresAt: Date): IssuedTokens {
    const user = session.user;
    return {
      accessToken: this.accessTokens.sign({ userId: user.id, sessionId: session.id, roles: user.roles }),
      expiresIn: this.accessTokens.ttlSeconds,
      refreshToken,
      refreshTokenExpiresAt: expiresAt,
      user,
      session,
    };
  }
}

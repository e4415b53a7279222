import type { EntityManager } from "@mikro-orm/core";
import type { RefreshState } from "../../auth/rotation";
import type { Role, SessionEndReason } from "../entities";

export type { SessionEndReason };

import { isUuid } from "../ids";
import { PerTurnBatch } from "../per-turn-batch";
import { batchDeleteSql, dateOf, type Executor, execute, queryRows, type Row } from "../sql";
import type { SqliteReads } from "../sqlite-reads";
import type { SqliteWriteGroups } from "../sqlite-write-groups";
import { transaction } from "../transaction";

/**
 * Every SQL statement about sessions, and the mapping of their rows. The
 * domain (`auth/sessions.ts`) calls these typed functions; it never sees a
 * row, a column name or which database it runs on.
 *
 * These are the statements on every request (the session check) and on every
 * refresh, so they are hand-written with bindings: through MikroORM's query
 * building and unit of work they cost several times the statements themselves
 * (bench/RESULTS.md). The same SQL runs on SQLite and PostgreSQL, but for the
 * row lock, which SQLite does not need (its write transactions start with
 * BEGIN IMMEDIATE and run one at a time).
 *
 * Lock order (README "Concurrency"): a transaction that changes sessions
 * locks session rows before anything else, in id order when it takes more
 * than one; the user's row comes after. Rotation locks one session row and
 * nothing else, so no two transactions can wait for each other in a cycle.
 */

export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
  userAgent: string | null;
  ip: string | null;
  /** When the session last proved who the user is (`auth_time`). */
  authenticatedAt: Date;
  /** How (RFC 8176 `amr` values). */
  amr: string[];
}

/** What requests need of a user: never the password hash. */
export interface UserSummary {
  id: string;
  email: string;
  roles: Role[];
  createdAt: Date;
  /** BEHAVIOUR.md §7: the user proved they receive mail at `email`. */
  emailVerified: boolean;
}

/** A session's refresh state as the rotation decision and the token proofs need it. */
export interface SessionRefreshState extends RefreshState {
  /** Hex; half of every proof (refresh-tokens.ts). */
  secret: string;
  /** Which key made the current generation's token; null before the first format-2 token (a carried-over session). */
  keyId: Buffer | null;
}

export interface SessionForRefresh {
  session: SessionRecord;
  refresh: SessionRefreshState;
  user: UserSummary;
}

export interface NewSession {
  id: string;
  userId: string;
  now: Date;
  expiresAt: Date;
  secret: string;
  keyId: Buffer;
  userAgent: string | null;
  ip: string | null;
  amr: readonly string[];
}

/** What a rotation, a grace-free re-issue or a password change writes. */
export interface RefreshUpdate {
  generation: number;
  rotatedAt: Date | null;
  retiredBelow: number;
  lastUsedAt: Date;
  keyId: Buffer;
}

export type Dialect = "sqlite" | "postgres";

const SESSION = `s.id as s_id, s.user_id as s_user_id, s.created_at as s_created_at, s.last_used_at as s_last_used_at,
  s.expires_at as s_expires_at, s.ended_at as s_ended_at, s.user_agent as s_user_agent, s.ip as s_ip,
  s.authenticated_at as s_authenticated_at, s.amr as s_amr`;
/** A user's columns as `userOf` maps them (the table aliased `u`); the user store reads users the same way. */
export const USER =
  "u.id as u_id, u.email as u_email, u.roles as u_roles, u.created_at as u_created_at, u.email_verified_at as u_email_verified_at";
const REFRESH = `s.refresh_generation as r_generation, s.refresh_rotated_at as r_rotated_at,
  s.refresh_retired_below as r_retired_below, s.refresh_secret as r_secret, s.refresh_key_id as r_key_id`;
/** BEHAVIOUR.md §5, the one definition of an active session; `isSessionActive` in auth/rotation.ts says the same. */
const ACTIVE = "s.ended_at is null and s.expires_at > ?";

const SQL = {
  insert: `insert into sessions (id, user_id, created_at, last_used_at, expires_at, ended_at, end_reason, user_agent, ip,
      refresh_generation, refresh_rotated_at, refresh_retired_below, refresh_secret, refresh_key_id, legacy_token_hash,
      authenticated_at, amr)
    values (?, ?, ?, ?, ?, null, null, ?, ?, 0, null, 0, ?, ?, null, ?, ?)`,
  byLegacyHash: "select id from sessions where legacy_token_hash = ?",
  forRefresh: `select ${SESSION}, ${REFRESH}, ${USER} from sessions s join users u on u.id = s.user_id where s.id = ?`,
  recordRefresh: `update sessions set refresh_generation = ?, refresh_rotated_at = ?, refresh_retired_below = ?,
    last_used_at = ?, refresh_key_id = ? where id = ?`,
  end: "update sessions set ended_at = ?, end_reason = ? where id = ? and ended_at is null",
  reauthenticated: "update sessions set authenticated_at = ?, amr = ? where id = ?",
  endAllOfUser: `update sessions as s set ended_at = ?, end_reason = ? where s.user_id = ? and ${ACTIVE}`,
  endAllOfUserExcept: `update sessions as s set ended_at = ?, end_reason = ? where s.user_id = ? and ${ACTIVE} and s.id <> ?`,
  lockAllOfUser: "select id from sessions where user_id = ? order by id for update",
  viewer: `select ${SESSION}, ${USER} from sessions s join users u on u.id = s.user_id
    where s.id = ? and s.user_id = ? and ${ACTIVE}`,
  /** PostgreSQL: the checks of one turn in one query; the ids bind as one uuid[] literal (knex would expand an array). */
  viewers: `select ${SESSION}, ${USER} from sessions s join users u on u.id = s.user_id
    where s.id = any(?::uuid[]) and ${ACTIVE}`,
  ofUser: `select ${SESSION} from sessions s where s.id = ? and s.user_id = ?`,
  listActive: `select ${SESSION} from sessions s where s.user_id = ? and ${ACTIVE} order by s.created_at desc, s.id desc limit ?`,
  countActive: `select count(*) as n from sessions s where s.user_id = ? and ${ACTIVE}`,
} as const;

/**
 * Dead sessions in batches, one statement per way of dying so each is a
 * range scan of its own index (an `or` of the three makes SQLite scan the
 * whole table; `order by` keeps the index chosen after ANALYZE).
 */
const PRUNE = {
  ended: "ended_at",
  expired: "expires_at",
  idle: "last_used_at",
} as const;

/** How a session died: it ended (logout, revocation, theft), passed its absolute end, or went idle. */
export type SessionDeath = keyof typeof PRUNE;

interface PendingCheck {
  em: () => EntityManager;
  sessionId: string;
  userId: string;
  now: Date;
  resolve: (row: Row | undefined) => void;
  reject: (error: unknown) => void;
}

export class SessionStore {
  /** SQLite: one writer at a time, whatever the transactions; a statement more in one costs no concurrency. */
  readonly writersAreSerialised: boolean;
  private readonly forRefreshSql: string;
  private readonly pruneSql: Record<SessionDeath, string>;
  private readonly pendingChecks = new PerTurnBatch<PendingCheck>((batch) => void this.runChecks(batch));

  constructor(
    private readonly dialect: Dialect,
    /** SQLite: the per-request check on a read connection of its own (`sqlite-reads.ts`); else through the ORM's. */
    private readonly reads: SqliteReads | null = null,
    /** SQLite: rotations and logouts committed in groups (`sqlite-write-groups.ts`); else each in a transaction of its own. */
    private readonly writeGroups: SqliteWriteGroups | null = null,
  ) {
    // PostgreSQL: the session row is locked before it is read, so a concurrent
    // rotation on any connection or instance waits and then sees this one's write.
    this.forRefreshSql = dialect === "postgres" ? `${SQL.forRefresh} for update of s` : SQL.forRefresh;
    this.writersAreSerialised = dialect === "sqlite";
    this.pruneSql = {
      ended: batchDeleteSql(dialect, "sessions", "id", PRUNE.ended, "<"),
      expired: batchDeleteSql(dialect, "sessions", "id", PRUNE.expired, "<"),
      idle: batchDeleteSql(dialect, "sessions", "id", PRUNE.idle, "<"),
    };
  }

  async insert(em: EntityManager, s: NewSession): Promise<void> {
    await execute(em, SQL.insert, [
      s.id,
      s.userId,
      s.now,
      s.now,
      s.expiresAt,
      s.userAgent,
      s.ip,
      s.secret,
      s.keyId.toString("hex"),
      s.now,
      s.amr.join(","),
    ]);
  }

  /**
   * Runs a rotation's or a logout's transaction (`body` locks the session with
   * `lockForRefresh` and writes through `tx`). On SQLite it joins the group
   * committed at the end of this turn of the event loop; elsewhere it is a
   * transaction of its own.
   */
  refreshTransaction<T>(em: EntityManager, body: (tx: Executor) => Promise<T>): Promise<T> {
    return this.writeGroups !== null ? this.writeGroups.run(body) : transaction(em, body);
  }

  /** The session a version 1 refresh token (by its SHA-256) was current for when it was carried over. */
  async sessionIdOfLegacyToken(em: EntityManager, hash: string): Promise<string | null> {
    const [row] = await queryRows(em, SQL.byLegacyHash, [hash]);
    return row === undefined ? null : String(row.id);
  }

  /** Inside a transaction: locks the session row (first, per the lock order) and reads it with its user. */
  async lockForRefresh(tx: Executor, sessionId: string): Promise<SessionForRefresh | null> {
    const [row] = await queryRows(tx, this.forRefreshSql, [sessionId]);
    if (row === undefined) return null;
    const session = sessionOf(row);
    return {
      session,
      user: userOf(row),
      refresh: {
        generation: Number(row.r_generation),
        rotatedAt: row.r_rotated_at == null ? null : dateOf(row.r_rotated_at),
        retiredBelow: Number(row.r_retired_below),
        lastUsedAt: session.lastUsedAt,
        expiresAt: session.expiresAt,
        endedAt: session.endedAt,
        secret: String(row.r_secret),
        keyId: row.r_key_id == null ? null : Buffer.from(String(row.r_key_id), "hex"),
      },
    };
  }

  /** Inside a transaction that holds the session's lock. */
  async recordRefresh(tx: Executor, sessionId: string, update: RefreshUpdate): Promise<void> {
    await execute(tx, SQL.recordRefresh, [
      update.generation,
      update.rotatedAt,
      update.retiredBelow,
      update.lastUsedAt,
      update.keyId.toString("hex"),
      sessionId,
    ]);
  }

  /** Inside a transaction that holds the session's lock: the user proved who they are again (`auth_time`, `amr`). */
  async recordReauthentication(tx: EntityManager, sessionId: string, at: Date, amr: readonly string[]): Promise<void> {
    await execute(tx, SQL.reauthenticated, [at, amr.join(","), sessionId]);
  }

  /** Ends one session unless it has ended already; true when this call ended it. */
  async end(em: Executor, sessionId: string, reason: SessionEndReason, now: Date): Promise<boolean> {
    return (await execute(em, SQL.end, [now, reason, sessionId])) > 0;
  }

  /** Ends every active session of a user (idle or not), but `exceptId`; returns how many. */
  endAllOfUser(
    em: EntityManager,
    userId: string,
    reason: SessionEndReason,
    now: Date,
    exceptId?: string,
  ): Promise<number> {
    return exceptId === undefined
      ? execute(em, SQL.endAllOfUser, [now, reason, userId, now])
      : execute(em, SQL.endAllOfUserExcept, [now, reason, userId, now, exceptId]);
  }

  /**
   * Inside a transaction: locks every session row of a user in id order (the
   * lock order for operations on several sessions, such as a password change).
   * SQLite's BEGIN IMMEDIATE already excludes every other writer.
   */
  async lockAllOfUser(tx: EntityManager, userId: string): Promise<void> {
    if (this.dialect === "postgres") await queryRows(tx, SQL.lockAllOfUser, [userId]);
  }

  /**
   * The per-request check, outside any transaction: the session an access
   * token names, if active and the user's, with the user. On SQLite on the
   * read connection; `em` is asked for only otherwise (or to type an error).
   */
  async findActiveWithUser(
    em: () => EntityManager,
    sessionId: string,
    userId: string,
    now: Date,
  ): Promise<{ session: SessionRecord; user: UserSummary } | null> {
    const params = [sessionId, userId, now];
    const row =
      this.reads !== null
        ? await this.readDirectly(em, SQL.viewer, params)
        : this.dialect === "postgres"
          ? await this.checkSoon(em, sessionId, userId, now)
          : (await queryRows(em(), SQL.viewer, params))[0];
    return row === undefined ? null : { session: sessionOf(row), user: userOf(row) };
  }

  /**
   * PostgreSQL: the checks asked for during one turn of the event loop go to
   * the database together at its end, as one query for all their sessions
   * (one round trip and one statement instead of one each; the same batching
   * as SQLite's read connection, `sqlite-reads.ts`). Each runs after its
   * request arrived, with the latest `now` of the batch, so none is judged on
   * an older state or an earlier time than its own.
   */
  private checkSoon(em: () => EntityManager, sessionId: string, userId: string, now: Date): Promise<Row | undefined> {
    // Ids are UUIDs; anything else names no session, and must not fail the batch's query.
    if (!isUuid(sessionId)) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => this.pendingChecks.add({ em, sessionId, userId, now, resolve, reject }));
  }

  private async runChecks(batch: PendingCheck[]): Promise<void> {
    const ids = [...new Set(batch.map((c) => c.sessionId.toLowerCase()))];
    const now = new Date(Math.max(...batch.map((c) => c.now.getTime())));
    try {
      const rows = await queryRows((batch[0] as PendingCheck).em(), SQL.viewers, [`{${ids.join(",")}}`, now]);
      const bySession = new Map(rows.map((row) => [String(row.s_id).toLowerCase(), row]));
      for (const check of batch) {
        const row = bySession.get(check.sessionId.toLowerCase());
        check.resolve(
          row !== undefined && String(row.s_user_id).toLowerCase() === check.userId.toLowerCase() ? row : undefined,
        );
      }
    } catch (error) {
      for (const check of batch) check.reject(error);
    }
  }

  private async readDirectly(em: () => EntityManager, sql: string, params: unknown[]): Promise<Row | undefined> {
    try {
      return await (this.reads as SqliteReads).getSoon(sql, params);
    } catch (error) {
      // The same typed exceptions as every other statement (a locked file becomes SERVICE_UNAVAILABLE).
      throw em()
        .getDriver()
        .convertException(error as Error);
    }
  }

  /** One of the user's sessions, active or not. */
  async findOfUser(em: EntityManager, userId: string, sessionId: string): Promise<SessionRecord | null> {
    const [row] = await queryRows(em, SQL.ofUser, [sessionId, userId]);
    return row === undefined ? null : sessionOf(row);
  }

  /** The newest `limit` active sessions of a user. */
  async listActive(em: EntityManager, userId: string, now: Date, limit: number): Promise<SessionRecord[]> {
    return (await queryRows(em, SQL.listActive, [userId, now, limit])).map(sessionOf);
  }

  async countActive(em: EntityManager, userId: string, now: Date): Promise<number> {
    const [row] = await queryRows(em, SQL.countActive, [userId, now]);
    return Number(row?.n ?? 0);
  }

  /**
   * Deletes at most `limit` sessions that died the way `death` says before
   * `before` (for `idle`: last used before it); returns how many. One short
   * statement: callers loop, so no request waits long behind it.
   */
  pruneBatch(em: EntityManager, death: SessionDeath, before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneSql[death], [before, limit, before]);
  }
}

function sessionOf(row: Row): SessionRecord {
  return {
    id: String(row.s_id),
    userId: String(row.s_user_id),
    createdAt: dateOf(row.s_created_at),
    lastUsedAt: dateOf(row.s_last_used_at),
    expiresAt: dateOf(row.s_expires_at),
    endedAt: row.s_ended_at == null ? null : dateOf(row.s_ended_at),
    userAgent: row.s_user_agent == null ? null : String(row.s_user_agent),
    ip: row.s_ip == null ? null : String(row.s_ip),
    // Null only for sessions the migration could not date (none); created_at is when they signed in.
    authenticatedAt: dateOf(row.s_authenticated_at ?? row.s_created_at),
    amr: row.s_amr == null ? ["pwd"] : String(row.s_amr).split(","),
  };
}

export function userOf(row: Row): UserSummary {
  // jsonb arrives parsed from pg; SQLite keeps JSON as text.
  const roles = typeof row.u_roles === "string" ? JSON.parse(row.u_roles) : row.u_roles;
  return {
    id: String(row.u_id),
    email: String(row.u_email),
    roles: roles as Role[],
    createdAt: dateOf(row.u_created_at),
    emailVerified: row.u_email_verified_at != null,
  };
}

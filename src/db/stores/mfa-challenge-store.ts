import type { EntityManager } from "@mikro-orm/core";
import { batchDeleteSql, dateOf, execute, queryRows, type Row } from "../sql";
import type { Dialect } from "./session-store";

/** An MFA challenge as the domain judges it (mfa/mfa-challenges.ts). */
export interface StoredMfaChallenge {
  id: string;
  userId: string;
  firstAmr: string[];
  attempts: number;
  expiresAt: Date;
  usedAt: Date | null;
}

export interface NewMfaChallenge {
  id: string;
  userId: string;
  tokenHash: string;
  firstAmr: readonly string[];
  now: Date;
  expiresAt: Date;
}

const COLUMNS = "id, user_id, first_amr, attempts, expires_at, used_at";

const SQL = {
  insert: `insert into mfa_challenges (id, user_id, token_hash, first_amr, attempts, created_at, expires_at, used_at)
    values (?, ?, ?, ?, 0, ?, ?, null)`,
  byHash: `select ${COLUMNS} from mfa_challenges where token_hash = ?`,
  byId: `select ${COLUMNS} from mfa_challenges where id = ?`,
  // The conditions again, so two presenters of one challenge cannot both win
  // (PostgreSQL re-checks them after the row lock; SQLite writers take turns).
  use: "update mfa_challenges set used_at = ? where id = ? and used_at is null and expires_at > ? and attempts < ?",
  wrong: "update mfa_challenges set attempts = attempts + 1 where id = ?",
} as const;

/** Every SQL statement about MFA challenges. Lock order: the challenge, then the factor's rows, then the new session. */
export class MfaChallengeStore {
  private readonly lockByIdSql: string;
  private readonly pruneUsedSql: string;
  private readonly pruneExpiredSql: string;

  constructor(dialect: Dialect) {
    this.lockByIdSql = dialect === "postgres" ? `${SQL.byId} for update` : SQL.byId;
    this.pruneUsedSql = batchDeleteSql(dialect, "mfa_challenges", "id", "used_at", "<");
    this.pruneExpiredSql = batchDeleteSql(dialect, "mfa_challenges", "id", "expires_at", "<");
  }

  async insert(tx: EntityManager, c: NewMfaChallenge): Promise<void> {
    await execute(tx, SQL.insert, [c.id, c.userId, c.tokenHash, c.firstAmr.join(","), c.now, c.expiresAt]);
  }

  async findByHash(em: EntityManager, tokenHash: string): Promise<StoredMfaChallenge | null> {
    const [row] = await queryRows(em, SQL.byHash, [tokenHash]);
    return row === undefined ? null : challengeOf(row);
  }

  /** Inside a transaction: locks the challenge (first, per the lock order) and reads it. */
  async lock(tx: EntityManager, id: string): Promise<StoredMfaChallenge | null> {
    const [row] = await queryRows(tx, this.lockByIdSql, [id]);
    return row === undefined ? null : challengeOf(row);
  }

  /** Uses the challenge if it is unused, unexpired and alive; true when this call did. */
  async use(tx: EntityManager, id: string, now: Date, maxAttempts: number): Promise<boolean> {
    return (await execute(tx, SQL.use, [now, id, now, maxAttempts])) > 0;
  }

  async countWrong(em: EntityManager, id: string): Promise<void> {
    await execute(em, SQL.wrong, [id]);
  }

  /** Maintenance: at most `limit` challenges used before `before`. */
  pruneUsed(em: EntityManager, before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneUsedSql, [before, limit, before]);
  }

  /** Maintenance: at most `limit` challenges that expired before `before` (used or dead ones among them). */
  pruneExpired(em: EntityManager, before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneExpiredSql, [before, limit, before]);
  }
}

function challengeOf(row: Row): StoredMfaChallenge {
  return {
    id: String(row.id),
    userId: String(row.user_id),
    firstAmr: String(row.first_amr)
      .split(",")
      .filter((m) => m !== ""),
    attempts: Number(row.attempts),
    expiresAt: dateOf(row.expires_at),
    usedAt: row.used_at == null ? null : dateOf(row.used_at),
  };
}

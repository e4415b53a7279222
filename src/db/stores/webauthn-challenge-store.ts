import type { EntityManager } from "@mikro-orm/core";
import type { WebAuthnPurpose } from "../entities";
import { batchDeleteSql, dateOf, execute, queryRows, type Row } from "../sql";
import type { Dialect } from "./session-store";

/** A WebAuthn ceremony as the domain judges it (`mfa/webauthn-challenges.ts`). */
export interface StoredChallenge {
  id: string;
  /** SHA-256 (base64url) of the challenge the authenticator signs. */
  challengeHash: string;
  purpose: WebAuthnPurpose;
  userId: string | null;
  binding: string | null;
  expiresAt: Date;
  usedAt: Date | null;
}

export interface NewChallenge extends Omit<StoredChallenge, "usedAt"> {
  createdAt: Date;
}

const SQL = {
  insert: `insert into webauthn_challenges (id, challenge_hash, purpose, user_id, binding, created_at, expires_at, used_at)
    values (?, ?, ?, ?, ?, ?, ?, null)`,
  byId: `select id, challenge_hash, purpose, user_id, binding, expires_at, used_at from webauthn_challenges where id = ?`,
  // The conditions again, so of concurrent finishes exactly one wins (PostgreSQL re-checks them after the row lock).
  consume: "update webauthn_challenges set used_at = ? where id = ? and used_at is null and expires_at > ?",
} as const;

/** Every SQL statement about WebAuthn ceremonies (BEHAVIOUR.md §8). */
export class WebAuthnChallengeStore {
  private readonly pruneUsedSql: string;
  private readonly pruneExpiredSql: string;

  constructor(dialect: Dialect) {
    this.pruneUsedSql = batchDeleteSql(dialect, "webauthn_challenges", "id", "used_at", "<");
    this.pruneExpiredSql = batchDeleteSql(dialect, "webauthn_challenges", "id", "expires_at", "<");
  }

  async insert(em: EntityManager, c: NewChallenge): Promise<void> {
    await execute(em, SQL.insert, [c.id, c.challengeHash, c.purpose, c.userId, c.binding, c.createdAt, c.expiresAt]);
  }

  async findById(em: EntityManager, id: string): Promise<StoredChallenge | null> {
    const [row] = await queryRows(em, SQL.byId, [id]);
    return row === undefined ? null : challengeOf(row);
  }

  /** Marks it used if it still is unused and unexpired; true when this call used it. */
  async consume(em: EntityManager, id: string, now: Date): Promise<boolean> {
    return (await execute(em, SQL.consume, [now, id, now])) > 0;
  }

  /** Maintenance: at most `limit` ceremonies finished before `before`; how many were deleted. */
  pruneUsed(em: EntityManager, before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneUsedSql, [before, limit, before]);
  }

  /** Maintenance: at most `limit` ceremonies that expired before `before`. */
  pruneExpired(em: EntityManager, before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneExpiredSql, [before, limit, before]);
  }
}

function challengeOf(row: Row): StoredChallenge {
  return {
    id: String(row.id),
    challengeHash: String(row.challenge_hash),
    purpose: String(row.purpose) as WebAuthnPurpose,
    userId: row.user_id == null ? null : String(row.user_id),
    binding: row.binding == null ? null : String(row.binding),
    expiresAt: dateOf(row.expires_at),
    usedAt: row.used_at == null ? null : dateOf(row.used_at),
  };
}

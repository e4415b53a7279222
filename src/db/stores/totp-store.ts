import type { EntityManager } from "@mikro-orm/core";
import { dateOf, execute, queryRows } from "../sql";

/** A user's authenticator app as the domain sees it (mfa/totp-authenticator.ts). */
export interface StoredTotp {
  userId: string;
  /** Sealed (mfa/totp-secret-cipher.ts). */
  sealedSecret: string;
  confirmedAt: Date | null;
  lastUsedStep: number | null;
}

const COLUMNS = "user_id, secret, confirmed_at, last_used_step";

const SQL = {
  // One row per user: a new setup replaces a pending one (the caller refuses when one is confirmed).
  savePending: `insert into totp_credentials (id, user_id, secret, confirmed_at, last_used_step, created_at)
    values (?, ?, ?, null, null, ?)
    on conflict (user_id) do update set secret = excluded.secret, created_at = excluded.created_at,
      confirmed_at = null, last_used_step = null
    where totp_credentials.confirmed_at is null`,
  byUser: `select ${COLUMNS} from totp_credentials where user_id = ?`,
  confirmed: "select 1 as found from totp_credentials where user_id = ? and confirmed_at is not null",
  /**
   * The one statement that accepts a code: only a step later than the last
   * accepted one, only for the secret that was read (so a setup replaced
   * meanwhile is not confirmed with the old secret's code). Of concurrent
   * uses of one code exactly one changes the row: PostgreSQL re-checks the
   * conditions after waiting for the row's lock; SQLite runs writers one at
   * a time.
   */
  useStep: `update totp_credentials set last_used_step = ?, secret = ?
    where user_id = ? and secret = ? and confirmed_at is not null and (last_used_step is null or last_used_step < ?)`,
  confirm: `update totp_credentials set confirmed_at = ?, last_used_step = ?
    where user_id = ? and secret = ? and confirmed_at is null`,
  deleteOfUser: "delete from totp_credentials where user_id = ?",
} as const;

/** Every SQL statement about authenticator apps (BEHAVIOUR.md §8). */
export class TotpStore {
  /** Stores a pending secret; false when the user already has a confirmed app (nothing changes then). */
  async savePending(tx: EntityManager, id: string, userId: string, sealedSecret: string, now: Date): Promise<boolean> {
    return (await execute(tx, SQL.savePending, [id, userId, sealedSecret, now])) > 0;
  }

  async find(em: EntityManager, userId: string): Promise<StoredTotp | null> {
    const [row] = await queryRows(em, SQL.byUser, [userId]);
    if (row === undefined) return null;
    return {
      userId: String(row.user_id),
      sealedSecret: String(row.secret),
      confirmedAt: row.confirmed_at == null ? null : dateOf(row.confirmed_at),
      lastUsedStep: row.last_used_step == null ? null : Number(row.last_used_step),
    };
  }

  async hasConfirmed(em: EntityManager, userId: string): Promise<boolean> {
    return (await queryRows(em, SQL.confirmed, [userId])).length > 0;
  }

  /**
   * Accepts a code of `step` for the secret that was read as `readSecret`:
   * true when this call did (a later step than any before it). `resealed` is
   * the same secret sealed under the current key (or `readSecret` again).
   */
  async useStep(
    tx: EntityManager,
    userId: string,
    readSecret: string,
    step: number,
    resealed: string,
  ): Promise<boolean> {
    return (await execute(tx, SQL.useStep, [step, resealed, userId, readSecret, step])) > 0;
  }

  /** Activates the pending secret `readSecret` with a code of `step`; true when this call did. */
  async confirm(tx: EntityManager, userId: string, readSecret: string, step: number, now: Date): Promise<boolean> {
    return (await execute(tx, SQL.confirm, [now, step, userId, readSecret])) > 0;
  }

  /** Removes the app, pending or confirmed; true when there was one. */
  async deleteOfUser(tx: EntityManager, userId: string): Promise<boolean> {
    return (await execute(tx, SQL.deleteOfUser, [userId])) > 0;
  }
}

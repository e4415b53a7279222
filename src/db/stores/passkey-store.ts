import type { EntityManager } from "@mikro-orm/core";
import { dateOf, execute, queryRows, type Row } from "../sql";

/** A passkey as the domain sees it (`mfa/passkeys.ts`). */
export interface StoredPasskey {
  id: string;
  userId: string;
  /** base64url. */
  credentialId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  signCount: number;
  transports: string[];
  deviceType: "singleDevice" | "multiDevice";
  backedUp: boolean;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export type NewPasskey = Omit<StoredPasskey, "lastUsedAt">;

const COLUMNS = `id, user_id, credential_id, public_key, sign_count, transports, device_type, backed_up, name,
  created_at, last_used_at`;

/**
 * A user has at most MAX_PASSKEYS_PER_USER passkeys (`mfa/passkeys.ts`), so a
 * list is short; the limit here is a second bound for the cost limit's
 * assumption that any list has at most 100 items.
 */
const SQL = {
  insert: `insert into passkeys (${COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null)`,
  ofUser: `select ${COLUMNS} from passkeys where user_id = ? order by created_at, id limit 100`,
  byCredentialId: `select ${COLUMNS} from passkeys where credential_id = ?`,
  ofUserById: `select ${COLUMNS} from passkeys where user_id = ? and id = ?`,
  countOfUser: "select count(*) as n from passkeys where user_id = ?",
  // The signature counter only goes forward (WebAuthn L2 §6.1.1): the condition is the
  // clone rule again, so of two concurrent uses the one with the lower counter loses.
  recordUse: `update passkeys set sign_count = ?, backed_up = ?, last_used_at = ?
    where id = ? and (sign_count < ? or (sign_count = 0 and ? = 0))`,
  deleteOfUser: "delete from passkeys where user_id = ? and id = ?",
  deleteAllOfUser: "delete from passkeys where user_id = ?",
} as const;

/** Every SQL statement about passkeys (BEHAVIOUR.md §8). */
export class PasskeyStore {
  async insert(tx: EntityManager, p: NewPasskey): Promise<void> {
    await execute(tx, SQL.insert, [
      p.id,
      p.userId,
      p.credentialId,
      p.publicKey,
      p.signCount,
      p.transports.length === 0 ? null : p.transports.join(","),
      p.deviceType,
      // 1/0 binds on both databases (better-sqlite3 refuses booleans; PostgreSQL reads '1' as true).
      p.backedUp ? 1 : 0,
      p.name,
      p.createdAt,
    ]);
  }

  /** The user's passkeys, oldest first. */
  async listOfUser(em: EntityManager, userId: string): Promise<StoredPasskey[]> {
    return (await queryRows(em, SQL.ofUser, [userId])).map(passkeyOf);
  }

  async findByCredentialId(em: EntityManager, credentialId: string): Promise<StoredPasskey | null> {
    const [row] = await queryRows(em, SQL.byCredentialId, [credentialId]);
    return row === undefined ? null : passkeyOf(row);
  }

  async findOfUser(em: EntityManager, userId: string, id: string): Promise<StoredPasskey | null> {
    const [row] = await queryRows(em, SQL.ofUserById, [userId, id]);
    return row === undefined ? null : passkeyOf(row);
  }

  async countOfUser(em: EntityManager, userId: string): Promise<number> {
    const [row] = await queryRows(em, SQL.countOfUser, [userId]);
    return Number(row?.n ?? 0);
  }

  /**
   * Records a verified use: the new counter, the backup state, when. False
   * when the stored counter is already at or past `signCount` (a clone, or a
   * concurrent use that got there first): nothing is written then.
   */
  async recordUse(
    tx: EntityManager,
    id: string,
    use: { signCount: number; backedUp: boolean; at: Date },
  ): Promise<boolean> {
    const changed = await execute(tx, SQL.recordUse, [
      use.signCount,
      use.backedUp ? 1 : 0,
      use.at,
      id,
      use.signCount,
      use.signCount,
    ]);
    return changed > 0;
  }

  /** True when this call deleted it. */
  async deleteOfUser(tx: EntityManager, userId: string, id: string): Promise<boolean> {
    return (await execute(tx, SQL.deleteOfUser, [userId, id])) > 0;
  }

  /** Every passkey of a user; how many there were. */
  deleteAllOfUser(tx: EntityManager, userId: string): Promise<number> {
    return execute(tx, SQL.deleteAllOfUser, [userId]);
  }
}

function passkeyOf(row: Row): StoredPasskey {
  const transports = row.transports == null ? "" : String(row.transports);
  return {
    id: String(row.id),
    userId: String(row.user_id),
    credentialId: String(row.credential_id),
    publicKey: String(row.public_key),
    // PostgreSQL answers bigint as text.
    signCount: Number(row.sign_count),
    transports: transports === "" ? [] : transports.split(","),
    deviceType: String(row.device_type) === "multiDevice" ? "multiDevice" : "singleDevice",
    backedUp: row.backed_up === true || Number(row.backed_up) === 1,
    name: String(row.name),
    createdAt: dateOf(row.created_at),
    lastUsedAt: row.last_used_at == null ? null : dateOf(row.last_used_at),
  };
}

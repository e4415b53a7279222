import type { EntityManager } from "@mikro-orm/core";
import type { Role, User } from "../entities";
import { execute, queryRows } from "../sql";
import { type Dialect, USER, type UserSummary, userOf } from "./session-store";

// Roles are a small JSON array; the text match works the same on SQLite and PostgreSQL.
const WITH_ROLE = "select id from users where cast(roles as text) like ? order by id";
const BY_ID = `select ${USER} from users u where u.id = ?`;
const BY_EMAIL = `select ${USER} from users u where u.email = ?`;
const CREDENTIALS_BY_EMAIL = `select ${USER}, u.password_hash as u_password_hash from users u where u.email = ?`;
const PASSWORD_HASH = "select password_hash from users where id = ?";
const SET_ROLES = "update users set roles = ?, updated_at = ? where id = ?";
const SET_PASSWORD = "update users set password_hash = ?, updated_at = ? where id = ?";
// The first proof is the one remembered; a later one changes nothing.
const MARK_VERIFIED = "update users set email_verified_at = ? where id = ? and email_verified_at is null";
const CHANGE_EMAIL = "update users set email = ?, email_verified_at = ?, updated_at = ? where id = ?";

/** What requests need of a user the ORM loaded (no password hash). */
export function summaryOf(user: User): UserSummary {
  return {
    id: user.id,
    email: user.email,
    roles: user.roles,
    createdAt: user.createdAt,
    emailVerified: user.emailVerifiedAt !== null,
  };
}

/**
 * Statements about users that the ORM's queries do not express on both
 * databases alike: the row locks of role changes.
 *
 * Lock order (README "Concurrency"): a role change locks every row that holds
 * the role it guards (ADMIN) in id order, then the changed user's row. It
 * locks no session row, and transactions that lock sessions take at most
 * their own user's row after them, so no two transactions wait for each other
 * in a cycle. On SQLite the locks are no-ops: every write transaction starts
 * with BEGIN IMMEDIATE and runs alone.
 */
export class UserStore {
  private readonly forUpdate: string;

  constructor(dialect: Dialect) {
    this.forUpdate = dialect === "postgres" ? " for update" : "";
  }

  /**
   * Inside a transaction: locks every user holding `role`, in id order, and
   * returns their ids. On PostgreSQL a row whose roles changed while this
   * waited for it is checked again and left out if it no longer holds the
   * role; one granted the role after this began is not seen (too few, never
   * too many).
   */
  async lockAllWithRole(tx: EntityManager, role: Role): Promise<string[]> {
    const rows = await queryRows(tx, WITH_ROLE + this.forUpdate, [`%"${role}"%`]);
    return rows.map((row) => String(row.id));
  }

  /** Inside a transaction: locks one user's row and reads it. */
  async lockById(tx: EntityManager, id: string): Promise<UserSummary | null> {
    const [row] = await queryRows(tx, BY_ID + this.forUpdate, [id]);
    return row === undefined ? null : userOf(row);
  }

  /** Inside a transaction: locks the row of the user with this (normalised) email and reads it. */
  async lockByEmail(tx: EntityManager, email: string): Promise<UserSummary | null> {
    const [row] = await queryRows(tx, BY_EMAIL + this.forUpdate, [email]);
    return row === undefined ? null : userOf(row);
  }

  /** Inside a transaction that holds the user's row. */
  async setRoles(tx: EntityManager, id: string, roles: readonly Role[], now: Date): Promise<void> {
    await execute(tx, SET_ROLES, [JSON.stringify(roles), now, id]);
  }

  /**
   * A password sign-in's user and password hash (null: the account has no
   * password), by (normalised) email. With bindings, as every lookup by email
   * or id here: the ORM's `findOne` writes the value into the SQL text, so
   * every user was a new statement for SQLite to compile, and one more in the
   * connection's statement cache, pushing out those every request reuses.
   */
  async findCredentialsByEmail(
    em: EntityManager,
    email: string,
  ): Promise<{ user: UserSummary; passwordHash: string | null } | null> {
    const [row] = await queryRows(em, CREDENTIALS_BY_EMAIL, [email]);
    if (row === undefined) return null;
    return { user: userOf(row), passwordHash: row.u_password_hash == null ? null : String(row.u_password_hash) };
  }

  /** The user's password hash: null when the account has none, undefined when there is no such user. */
  async passwordHashOf(em: EntityManager, id: string): Promise<string | null | undefined> {
    const [row] = await queryRows(em, PASSWORD_HASH, [id]);
    return row === undefined ? undefined : row.password_hash == null ? null : String(row.password_hash);
  }

  /** The user with this (normalised) email, without locking. */
  async findByEmail(em: EntityManager, email: string): Promise<UserSummary | null> {
    const [row] = await queryRows(em, BY_EMAIL, [email]);
    return row === undefined ? null : userOf(row);
  }

  async findById(em: EntityManager, id: string): Promise<UserSummary | null> {
    const [row] = await queryRows(em, BY_ID, [id]);
    return row === undefined ? null : userOf(row);
  }

  async setPasswordHash(tx: EntityManager, id: string, passwordHash: string, now: Date): Promise<void> {
    await execute(tx, SET_PASSWORD, [passwordHash, now, id]);
  }

  async markEmailVerified(tx: EntityManager, id: string, now: Date): Promise<void> {
    await execute(tx, MARK_VERIFIED, [now, id]);
  }

  /**
   * Moves the account to a proved address; throws the driver's
   * UniqueConstraintViolationException when another account has it.
   */
  async changeEmail(tx: EntityManager, id: string, email: string, now: Date): Promise<void> {
    await execute(tx, CHANGE_EMAIL, [email, now, now, id]);
  }
}

import {
  BigIntType,
  Entity,
  type EntityProperty,
  Index,
  type Platform,
  PrimaryKey,
  Property,
  t,
} from "@mikro-orm/core";
import { BaseSqlitePlatform } from "@mikro-orm/knex";

/**
 * A 64-bit auto-increment key (PostgreSQL `bigserial`). SQLite's is its rowid,
 * which must be declared `integer` (64-bit there) to be one; MikroORM creates
 * it so but compares it as `bigint`, and would rebuild the table at every diff.
 */
class SequenceIdType extends BigIntType {
  override getColumnType(prop: EntityProperty, platform: Platform): string {
    return platform instanceof BaseSqlitePlatform ? "integer" : super.getColumnType(prop, platform);
  }
}

/**
 * One password check's place in the login throttle's count (BEHAVIOUR.md
 * §10), taken before the password is checked. A wrong password leaves it in
 * place until it leaves the window; a right one removes it together with the
 * places that address took before it for that email. Kept in the database so
 * every instance shares the count and a restart keeps it. The entity
 * describes the table for migrations; reads and writes go through
 * `stores/login-attempt-store.ts`.
 */
@Entity({ tableName: "login_attempts" })
@Index({ properties: ["emailKey", "ip", "attemptedAt"] })
@Index({ properties: ["emailKey", "attemptedAt"] })
// Maintenance deletes the attempts that left the window, oldest first.
@Index({ properties: ["attemptedAt"] })
export class LoginAttempt {
  /** Increases in the order places are granted for an email (granted one at a time, under a lock). */
  @PrimaryKey({ type: SequenceIdType, autoincrement: true })
  id!: string;

  /**
   * HMAC-SHA-256 of the normalised email under a key derived from SECRET_KEYS
   * (base64url): emails that have no account are counted too, and a copy of
   * the table does not list who tried to sign in.
   */
  @Property({ type: "string", length: 64 })
  emailKey!: string;

  /** The client address, or "unknown". */
  @Property({ type: "string", length: 64 })
  ip!: string;

  @Property({ type: t.datetime })
  attemptedAt!: Date;
}

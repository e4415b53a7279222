import { randomUUID } from "node:crypto";
import { Entity, Index, PrimaryKey, Property, t } from "@mikro-orm/core";

/**
 * One failed login, for throttling. Kept in the database so the count survives
 * restarts and is shared by every instance. The email is stored as a hash:
 * failures for addresses that have no account are counted too.
 */
@Entity({ tableName: "login_failures" })
@Index({ properties: ["emailHash", "failedAt"] })
@Index({ properties: ["emailHash", "ip", "failedAt"] })
// Maintenance deletes failures that left the window, oldest first.
@Index({ properties: ["failedAt"] })
export class LoginFailure {
  @PrimaryKey({ type: "uuid" })
  id: string = randomUUID();

  @Property({ type: "string", length: 64 })
  emailHash!: string;

  @Property({ type: "string", length: 64 })
  ip!: string;

  @Property({ type: t.datetime })
  failedAt!: Date;
}

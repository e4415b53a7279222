import type { EntityManager } from "@mikro-orm/core";
import type { Role } from "../entities";
import { queryRows } from "../sql";

// Roles are a small JSON array; the text match works the same on SQLite and PostgreSQL.
const COUNT_WITH_ROLE = "select count(*) as n from users where cast(roles as text) like ?";

/** Statements about users that the ORM's queries do not express on both databases alike. */
export class UserStore {
  /** How many users hold `role`, in `em`'s transaction if it has one. */
  async countWithRole(em: EntityManager, role: Role): Promise<number> {
    const [row] = await queryRows(em, COUNT_WITH_ROLE, [`%"${role}"%`]);
    return Number(row?.n ?? 0);
  }
}

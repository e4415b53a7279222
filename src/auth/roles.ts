import type { EntityManager } from "@mikro-orm/core";
import { ROLES, type Role, User } from "../db/entities";
import { isUuid } from "../db/ids";
import { type Page, type PageRequest, paginate } from "../db/pagination";
import type { UserStore } from "../db/stores/user-store";
import { badUserInput, notFound } from "../errors";
import { normalizeEmail } from "./emails";

/** Everyone is a USER; other roles are granted on top. Stored in one order, without repeats. */
export function normalizeRoles(roles: readonly Role[]): Role[] {
  return ROLES.filter((role) => role === "USER" || roles.includes(role));
}

/**
 * Role administration, shared by the GraphQL admin operations and the
 * operator CLI. Roles live in the database and are read on every request,
 * so a change applies to the user's next request without signing in again.
 */
export class Roles {
  constructor(private readonly users: UserStore) {}

  /** ADMIN only (checked by the caller's @Authorized): every user, oldest first. */
  listUsers(em: EntityManager, page: PageRequest): Promise<Page<User>> {
    return paginate(em, User, {}, "asc", page);
  }

  async setUserRoles(em: EntityManager, actorId: string, userId: string, roles: readonly Role[]): Promise<User> {
    if (roles.length === 0) throw badUserInput("roles", "roles must name at least one role");
    return em.transactional(async (tx) => {
      const user = isUuid(userId) ? await tx.findOne(User, userId) : null;
      if (user === null) throw notFound("User");
      const next = normalizeRoles(roles);
      // Someone must always be able to administer the server from the API.
      if (
        user.id === actorId &&
        !next.includes("ADMIN") &&
        user.roles.includes("ADMIN") &&
        (await this.users.countWithRole(tx, "ADMIN")) <= 1
      ) {
        throw badUserInput("roles", "You are the last ADMIN; grant ADMIN to someone else before removing your own");
      }
      user.roles = next;
      return user;
    });
  }

  async grant(em: EntityManager, email: string, role: Role): Promise<User> {
    const user = await this.byEmail(em, email);
    user.roles = normalizeRoles([...user.roles, role]);
    await em.flush();
    return user;
  }

  async revoke(em: EntityManager, email: string, role: Role): Promise<User> {
    if (role === "USER") throw badUserInput("role", "Every user has USER; it cannot be revoked");
    const user = await this.byEmail(em, email);
    user.roles = normalizeRoles(user.roles.filter((r) => r !== role));
    await em.flush();
    return user;
  }

  async byEmail(em: EntityManager, email: string): Promise<User> {
    const user = await em.findOne(User, { email: normalizeEmail(email) });
    if (user === null) throw notFound(`User with email ${JSON.stringify(normalizeEmail(email))}`);
    return user;
  }
}

import type { EntityManager } from "@mikro-orm/core";
import type { Clock } from "../clock";
import { ROLES, type Role, User } from "../db/entities";
import { isUuid } from "../db/ids";
import { type Page, type PageRequest, paginate } from "../db/pagination";
import type { UserSummary } from "../db/stores/session-store";
import { summaryOf, type UserStore } from "../db/stores/user-store";
import { transaction } from "../db/transaction";
import { badUserInput, forbidden, notFound } from "../errors";
import { normalizeEmail } from "./emails";

/** Everyone is a USER; other roles are granted on top. Stored in one order, without repeats. */
export function normalizeRoles(roles: readonly Role[]): Role[] {
  return ROLES.filter((role) => role === "USER" || roles.includes(role));
}

/** Who asks for a role change: an ADMIN through the API, or the operator at the shell. */
type Actor = { userId: string } | "operator";

/**
 * Role administration, shared by the GraphQL admin operations and the
 * operator CLI. Roles live in the database and are read on every request,
 * so a change applies to the user's next request without signing in again.
 *
 * Once an ADMIN exists there is always one (BEHAVIOUR.md §12): someone must be
 * able to administer the server from the API. A count read before the write
 * would not hold it: two ADMINs removing each other at the same moment would
 * each count two and leave none. So every role change, in one transaction,
 * first locks all ADMIN rows (in id order; PostgreSQL `FOR UPDATE`, SQLite's
 * BEGIN IMMEDIATE), then the changed user's row, and decides on what it holds.
 */
export class Roles {
  constructor(
    private readonly users: UserStore,
    private readonly clock: Clock,
  ) {}

  /** ADMIN only (checked by the caller's @Authorized): every user, oldest first. */
  async listUsers(em: EntityManager, page: PageRequest): Promise<Page<UserSummary>> {
    const found = await paginate(em, User, {}, "asc", page);
    return { ...found, items: found.items.map(({ cursor, node }) => ({ cursor, node: summaryOf(node) })) };
  }

  /** ADMIN only: replaces a user's roles. */
  setUserRoles(em: EntityManager, actorId: string, userId: string, roles: readonly Role[]): Promise<UserSummary> {
    if (roles.length === 0) throw badUserInput("roles", "roles must name at least one role");
    const next = normalizeRoles(roles);
    return this.change(em, { userId: actorId }, "roles", {
      find: (tx) => (isUuid(userId) ? this.users.lockById(tx, userId) : Promise.resolve(null)),
      missing: "User",
      next: () => next,
    });
  }

  /** Operator: adds a role. */
  grant(em: EntityManager, email: string, role: Role): Promise<UserSummary> {
    return this.change(em, "operator", "role", {
      ...this.byNormalisedEmail(email),
      next: (current) => normalizeRoles([...current, role]),
    });
  }

  /** Operator: removes a role, unless it is the last ADMIN's ADMIN. */
  revoke(em: EntityManager, email: string, role: Role): Promise<UserSummary> {
    if (role === "USER") throw badUserInput("role", "Every user has USER; it cannot be revoked");
    return this.change(em, "operator", "role", {
      ...this.byNormalisedEmail(email),
      next: (current) => normalizeRoles(current.filter((r) => r !== role)),
    });
  }

  async byEmail(em: EntityManager, email: string): Promise<User> {
    const user = await em.findOne(User, { email: normalizeEmail(email) });
    if (user === null) throw notFound(`User with email ${JSON.stringify(normalizeEmail(email))}`);
    return user;
  }

  private byNormalisedEmail(email: string) {
    const normalised = normalizeEmail(email);
    return {
      find: (tx: EntityManager) => this.users.lockByEmail(tx, normalised),
      missing: `User with email ${JSON.stringify(normalised)}`,
    };
  }

  private change(
    em: EntityManager,
    actor: Actor,
    field: string,
    target: {
      find: (tx: EntityManager) => Promise<UserSummary | null>;
      missing: string;
      next: (current: readonly Role[]) => Role[];
    },
  ): Promise<UserSummary> {
    return transaction(em, async (tx) => {
      // Lock order (stores/user-store.ts): every ADMIN row in id order, then the target's row.
      const admins = await this.users.lockAllWithRole(tx, "ADMIN");
      const user = await target.find(tx);
      if (user === null) throw notFound(target.missing);
      const next = target.next(user.roles);
      const remaining = admins.filter((id) => id !== user.id).length + (next.includes("ADMIN") ? 1 : 0);
      if (admins.length > 0 && remaining === 0) {
        throw badUserInput(
          field,
          actor !== "operator" && actor.userId === user.id
            ? "You are the last ADMIN; grant ADMIN to someone else before removing your own"
            : "This would leave no ADMIN; grant ADMIN to someone else first",
        );
      }
      // The caller's ADMIN was checked when the request began; another ADMIN may
      // have removed it since (it waited for that change's locks above).
      if (actor !== "operator" && !admins.includes(actor.userId)) throw forbidden();
      if (next.length === user.roles.length && next.every((role, i) => role === user.roles[i])) return user;
      await this.users.setRoles(tx, user.id, next, this.clock.now());
      return { ...user, roles: next };
    });
  }
}

import type { EntityManager } from "@mikro-orm/core";
import type { Clock } from "../clock";
import { MAX_PAGE_SIZE } from "../db/pagination";
import type { SessionEndReason, SessionRecord, SessionStore } from "../db/stores/session-store";
import { transaction } from "../db/transaction";

/**
 * What can be done to a user's sessions without any key: list, count and end
 * them. `Sessions` (the API) delegates to it; the operator CLI, which holds
 * no key because it signs nothing, uses it alone.
 */
export class SessionAdministration {
  constructor(
    private readonly store: SessionStore,
    private readonly clock: Clock,
  ) {}

  /** A user's active sessions, newest first: the newest MAX_PAGE_SIZE of them (the query cost limit counts a page). */
  listActive(em: EntityManager, userId: string): Promise<SessionRecord[]> {
    return this.store.listActive(em, userId, this.clock.now(), MAX_PAGE_SIZE);
  }

  countActive(em: EntityManager, userId: string): Promise<number> {
    return this.store.countActive(em, userId, this.clock.now());
  }

  /**
   * Ends every active session of a user, idle or not (all, or all but
   * `except`): the ones `sessions` lists, so the count matches what the user
   * saw. Their refresh and access tokens stop working at once.
   * Takes the user's session rows in id order first (the lock order).
   */
  endAll(em: EntityManager, userId: string, reason: SessionEndReason, except?: string): Promise<number> {
    return transaction(em, async (tx) => this.endAllLocked(tx, userId, reason, except));
  }

  /** `endAll` inside a transaction of the caller's (a password change). */
  async endAllLocked(tx: EntityManager, userId: string, reason: SessionEndReason, except?: string): Promise<number> {
    await this.store.lockAllOfUser(tx, userId);
    return this.store.endAllOfUser(tx, userId, reason, this.clock.now(), except);
  }
}

import type { EntityManager } from "@mikro-orm/core";
import { batchDeleteSql, execute } from "../sql";
import type { Dialect } from "./session-store";

/** Statements about recorded login failures (the throttle's memory). */
export class LoginFailureStore {
  // Oldest first through the failed_at index, in batches (see `batchDeleteSql`).
  private readonly pruneSql: string;

  constructor(dialect: Dialect) {
    this.pruneSql = batchDeleteSql(dialect, "login_failures", "id", "failed_at", "<=");
  }

  /** Deletes at most `limit` failures recorded at or before `before`; returns how many. */
  pruneBatch(em: EntityManager, before: Date, limit: number): Promise<number> {
    return execute(em, this.pruneSql, [before, limit, before]);
  }
}

import type { EntityManager } from "@mikro-orm/core";
import { execToCompletion, execute, queryRows } from "../sql";
import { transaction } from "../transaction";
import type { Dialect } from "./session-store";

/**
 * The advisory lock key of maintenance batches on PostgreSQL: any constant
 * that no other lock of this app uses ("auth-mnt" in ASCII).
 */
const MAINTENANCE_LOCK = 0x617574682d6d6e74n;

/** SQLite's auto_vacuum values (https://www.sqlite.org/pragma.html#pragma_auto_vacuum). */
const AUTO_VACUUM_INCREMENTAL = 2;

export type VacuumMode = "incremental" | "converted" | "too-large" | "not-sqlite";

/**
 * The database-level side of maintenance, the part that differs by dialect:
 * keeping several PostgreSQL instances from deleting the same rows at once,
 * and giving SQLite's freed pages back to the file system.
 */
export class MaintenanceStore {
  constructor(private readonly dialect: Dialect) {}

  /**
   * Runs one delete batch. On PostgreSQL in a transaction holding an advisory
   * lock, taken without waiting: when another instance is in a batch this
   * returns null and nothing ran (the batches are idempotent, so the lock only
   * saves a second instance from queueing on the same rows). On SQLite one
   * statement is its own transaction, and writers already take turns.
   */
  async batch(em: EntityManager, body: (em: EntityManager) => Promise<number>): Promise<number | null> {
    if (this.dialect === "sqlite") return body(em);
    return transaction(em, async (tx) => {
      const [row] = await queryRows(tx, "select pg_try_advisory_xact_lock(?) as locked", [MAINTENANCE_LOCK.toString()]);
      return row?.locked === true ? body(tx) : null;
    });
  }

  /**
   * SQLite: copies what the last batch wrote to the write-ahead log into the
   * database file now, on maintenance's connection, without waiting for any
   * reader or writer (PASSIVE). Otherwise SQLite does it inside whichever
   * commit fills the log past 1,000 pages, which may be a request's: a batch
   * touches hundreds of index pages, and that request would copy and sync
   * several batches' worth before it could answer.
   */
  async checkpoint(em: EntityManager): Promise<void> {
    if (this.dialect === "sqlite") await queryRows(em, "pragma wal_checkpoint(passive)", []);
  }

  /** SQLite pages that hold nothing since deletes; 0 on PostgreSQL (its autovacuum reuses space). */
  async freePages(em: EntityManager): Promise<number> {
    if (this.dialect !== "sqlite") return 0;
    const [row] = await queryRows(em, "pragma freelist_count", []);
    return Number(row?.freelist_count ?? 0);
  }

  /**
   * SQLite: gives back up to `pages` free pages at the end of the file (the
   * file shrinks at the next checkpoint). Needs auto_vacuum = INCREMENTAL;
   * a no-op otherwise.
   */
  async reclaimPages(em: EntityManager, pages: number): Promise<void> {
    if (this.dialect === "sqlite") await execToCompletion(em, `pragma incremental_vacuum(${Math.trunc(pages)})`);
  }

  /**
   * SQLite: makes sure the file can give free pages back. A file created by
   * this version already can (the connection asks for it before the first
   * table exists); an older one needs one VACUUM, which rewrites the whole
   * file and blocks every other statement meanwhile, so it is done here only
   * when the file is at most `maxBytes`: at start, before the server listens.
   */
  async ensureIncrementalVacuum(em: EntityManager, maxBytes: number): Promise<VacuumMode> {
    if (this.dialect !== "sqlite") return "not-sqlite";
    if ((await this.pragma(em, "auto_vacuum")) === AUTO_VACUUM_INCREMENTAL) return "incremental";
    if ((await this.fileBytes(em)) > maxBytes) return "too-large";
    await this.vacuum(em);
    return "converted";
  }

  /** SQLite: rewrites the file compactly with auto_vacuum = INCREMENTAL (the operator's `vacuum`). */
  async vacuum(em: EntityManager): Promise<void> {
    if (this.dialect !== "sqlite") return;
    // Not in a transaction: VACUUM cannot run inside one.
    await execute(em, "pragma auto_vacuum = incremental", []);
    await execute(em, "vacuum", []);
  }

  /** The database file's size as SQLite counts it (pages × page size). */
  async fileBytes(em: EntityManager): Promise<number> {
    return (await this.pragma(em, "page_count")) * (await this.pragma(em, "page_size"));
  }

  private async pragma(em: EntityManager, name: "auto_vacuum" | "page_count" | "page_size"): Promise<number> {
    const [row] = await queryRows(em, `pragma ${name}`, []);
    return Number(row?.[name] ?? 0);
  }
}

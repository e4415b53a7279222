import { setTimeout as sleep } from "node:timers/promises";
import type { EntityManager } from "@mikro-orm/core";
import type { Clock } from "../clock";
import type { Config } from "../config";
import { EmailTokenStore } from "../db/stores/email-token-store";
import { LoginAttemptStore } from "../db/stores/login-attempt-store";
import { MaintenanceStore, type VacuumMode } from "../db/stores/maintenance-store";
import { MfaChallengeStore } from "../db/stores/mfa-challenge-store";
import { OAuthStore } from "../db/stores/oauth-store";
import { OutboxStore } from "../db/stores/outbox-store";
import { RateLimitStore } from "../db/stores/rate-limit-store";
import { type SessionDeath, SessionStore } from "../db/stores/session-store";
import { WebAuthnChallengeStore } from "../db/stores/webauthn-challenge-store";

/** AUTH_RATE_LIMIT_PER_MINUTE counts per minute. */
export const AUTH_RATE_WINDOW_SECONDS = 60;
/** EMAIL_REQUESTS_PER_HOUR counts per hour. */
export const MAIL_REQUEST_WINDOW_SECONDS = 3600;

export interface MaintenancePolicy {
  /**
   * Seconds a dead session is kept before it is deleted: meanwhile `logout`
   * with its token still answers true (idempotent, §6), and its row (end
   * reason, address, user agent) is there to look into an incident.
   */
  sessionRetention: number;
  /** REFRESH_TOKEN_TTL: a session unused this long can no longer be refreshed. */
  refreshTokenTtl: number;
  /** LOGIN_LOCKOUT_SECONDS: older failures no longer count. */
  loginFailureWindow: number;
  /** Seconds a sent or given-up mail stays in the outbox (its payload is already gone): to look into "I never got the mail". */
  mailRetention: number;
}

/**
 * How maintenance shares the database with requests: batches sized to take
 * about `targetBatchMs` (the size adapts to the machine: halved after a slow
 * batch, doubled after a quick one), each followed by a pause at least as
 * long, so requests always get at least half of the database's time.
 */
export interface Pacing {
  targetBatchMs: number;
  minBatch: number;
  firstBatch: number;
  maxBatch: number;
  minPauseMs: number;
  /** SQLite pages (4 KiB) given back per step of incremental vacuum. */
  vacuumStepPages: number;
}

export const PACING: Record<Config["database"]["kind"], Pacing> = {
  // A batch holds SQLite's one write lock: a request that writes meanwhile
  // waits for it (and the busy handler sleeps in steps of 1, 2, 5, 10 ms), so
  // a batch is kept to a few milliseconds. (It runs in a worker thread: see
  // sqlite-worker.ts.)
  sqlite: { targetBatchMs: 5, minBatch: 10, firstBatch: 50, maxBatch: 200, minPauseMs: 5, vacuumStepPages: 256 },
  // Row locks on dead rows, which no request wants: a batch delays nobody, and
  // its time is mostly round trips, so batches are larger.
  postgres: { targetBatchMs: 50, minBatch: 100, firstBatch: 500, maxBatch: 2000, minPauseMs: 5, vacuumStepPages: 0 },
};

/** Seven days (the CLI's `prune --older-than-days` default too). */
export const DEFAULT_SESSION_RETENTION = 7 * 86_400;
/** Three days: long enough to answer "did my mail go out, and when", short enough that the table stays small. */
export const DEFAULT_MAIL_RETENTION = 3 * 86_400;

export interface MaintenanceReport {
  /** Sessions deleted, by how they died. */
  sessions: Record<SessionDeath, number>;
  loginFailures: number;
  rateLimitCounters: number;
  /** Mailed tokens used or expired. */
  emailTokens: number;
  /** Passkey ceremonies finished or expired. */
  webauthnChallenges: number;
  /** MFA challenges (sign-ins waiting for a second factor) used or expired. */
  mfaChallenges: number;
  /** Identity-provider sign-ins finished or expired. */
  oauthFlows: number;
  /** Outbox rows deleted: mails sent, and mails given up, more than the retention ago. */
  mail: { sent: number; failed: number };
  /** SQLite pages given back to the file system. */
  reclaimedPages: number;
  /** The longest batch, ms: about the longest a request may have waited for this run (BEHAVIOUR.md §11: ~50). */
  longestBatchMs: number;
  /** Another instance was running a batch (PostgreSQL): this run left the rest to it. */
  yielded: boolean;
  /** Stopped before the end (the server is stopping). */
  interrupted: boolean;
}

export interface MaintenanceStores {
  sessions: SessionStore;
  loginFailures: LoginAttemptStore;
  rateLimits: RateLimitStore;
  emailTokens: EmailTokenStore;
  webauthnChallenges: WebAuthnChallengeStore;
  mfaChallenges: MfaChallengeStore;
  oauthFlows: OAuthStore;
  outbox: OutboxStore;
  database: MaintenanceStore;
}

export interface RunOptions {
  /** Ends the run after the current batch. */
  signal?: AbortSignal;
  /** Overrides the policy's session retention (the CLI's --older-than-days). */
  sessionRetention?: number;
  /** The time to measure ages against, when the clock is elsewhere (a worker thread); the clock's by default. */
  now?: Date;
}

/**
 * Deletes what can never be used again (BEHAVIOUR.md §11): sessions dead for
 * longer than the retention, login failures outside the throttle's window,
 * rate-limit counters of past windows, used or expired mailed tokens and MFA
 * challenges, mails sent or given up days ago; then, on SQLite, gives the freed pages
 * back. Everything in short batches through indexed, idempotent statements,
 * so the server's timer, the operator's `prune` and other instances can all
 * run it at once without harm.
 */
export class Maintenance {
  constructor(
    private readonly stores: MaintenanceStores,
    private readonly policy: MaintenancePolicy,
    private readonly clock: Clock,
    private readonly pacing: Pacing,
  ) {}

  async run(
    em: EntityManager,
    { signal, sessionRetention = this.policy.sessionRetention, now: at = this.clock.now() }: RunOptions = {},
  ): Promise<MaintenanceReport> {
    const now = at.getTime();
    const before = (seconds: number) => new Date(now - seconds * 1000);
    const {
      sessions,
      loginFailures,
      rateLimits,
      emailTokens,
      mfaChallenges,
      webauthnChallenges,
      oauthFlows,
      outbox,
      database,
    } = this.stores;

    const report: MaintenanceReport = {
      sessions: { ended: 0, expired: 0, idle: 0 },
      loginFailures: 0,
      rateLimitCounters: 0,
      emailTokens: 0,
      webauthnChallenges: 0,
      mfaChallenges: 0,
      oauthFlows: 0,
      mail: { sent: 0, failed: 0 },
      reclaimedPages: 0,
      longestBatchMs: 0,
      yielded: false,
      interrupted: false,
    };
    const tasks: Array<[(count: number) => void, (em: EntityManager, limit: number) => Promise<number>]> = [
      [(n) => (report.sessions.ended += n), (e, l) => sessions.pruneBatch(e, "ended", before(sessionRetention), l)],
      [(n) => (report.sessions.expired += n), (e, l) => sessions.pruneBatch(e, "expired", before(sessionRetention), l)],
      [
        (n) => (report.sessions.idle += n),
        (e, l) => sessions.pruneBatch(e, "idle", before(sessionRetention + this.policy.refreshTokenTtl), l),
      ],
      [
        (n) => (report.loginFailures += n),
        (e, l) => loginFailures.pruneBatch(e, before(this.policy.loginFailureWindow), l),
      ],
      [(n) => (report.rateLimitCounters += n), (e, l) => rateLimits.pruneBatch(e, now, l)],
      // A used token is refused whether or not its row is there; an expired one too.
      [(n) => (report.emailTokens += n), (e, l) => emailTokens.pruneUsed(e, at, l)],
      [(n) => (report.emailTokens += n), (e, l) => emailTokens.pruneExpired(e, at, l)],
      // Likewise a passkey ceremony: anyone may start one, so they must not pile up.
      [(n) => (report.webauthnChallenges += n), (e, l) => webauthnChallenges.pruneUsed(e, at, l)],
      [(n) => (report.webauthnChallenges += n), (e, l) => webauthnChallenges.pruneExpired(e, at, l)],
      // Likewise a used, expired or dead challenge (a dead one expires within 5 minutes).
      [(n) => (report.mfaChallenges += n), (e, l) => mfaChallenges.pruneUsed(e, at, l)],
      [(n) => (report.mfaChallenges += n), (e, l) => mfaChallenges.pruneExpired(e, at, l)],
      // Likewise a provider sign-in: anyone may start one.
      [(n) => (report.oauthFlows += n), (e, l) => oauthFlows.pruneUsed(e, at, l)],
      [(n) => (report.oauthFlows += n), (e, l) => oauthFlows.pruneExpired(e, at, l)],
      [(n) => (report.mail.sent += n), (e, l) => outbox.pruneBatch(e, "sent", before(this.policy.mailRetention), l)],
      [
        (n) => (report.mail.failed += n),
        (e, l) => outbox.pruneBatch(e, "failed", before(this.policy.mailRetention), l),
      ],
    ];

    let limit = this.pacing.firstBatch;
    for (const [count, deleteBatch] of tasks) {
      for (;;) {
        if (signal?.aborted) return { ...report, interrupted: true };
        const started = performance.now();
        const deleted = await database.batch(em, (e) => deleteBatch(e, limit));
        const took = performance.now() - started;
        if (deleted === null) return { ...report, yielded: true };
        count(deleted);
        report.longestBatchMs = Math.max(report.longestBatchMs, Math.round(took));
        if (deleted === 0) break;
        await database.checkpoint(em);
        const more = deleted === limit;
        if (more) limit = this.nextLimit(limit, took);
        if (!(await this.pause(took, signal))) return { ...report, interrupted: true };
        if (!more) break;
      }
    }

    // SQLite keeps deleted pages in the file for reuse; give them back in steps.
    let free = await database.freePages(em);
    while (free > 0) {
      if (signal?.aborted) return { ...report, interrupted: true };
      const started = performance.now();
      await database.reclaimPages(em, this.pacing.vacuumStepPages);
      const took = performance.now() - started;
      report.longestBatchMs = Math.max(report.longestBatchMs, Math.round(took));
      const left = await database.freePages(em);
      // Not incremental (an old file too large to convert at start): the pages stay, for reuse.
      if (left >= free) break;
      report.reclaimedPages += free - left;
      free = left;
      if (free > 0 && !(await this.pause(took, signal))) return { ...report, interrupted: true };
    }
    return report;
  }

  /**
   * SQLite: makes sure the file can give freed pages back, converting an
   * older file (one VACUUM) when it is at most `maxBytes`. For the start,
   * before any request.
   */
  prepareFile(em: EntityManager, maxBytes: number): Promise<VacuumMode> {
    return this.stores.database.ensureIncrementalVacuum(em, maxBytes);
  }

  /** SQLite: rewrites the file compactly, whatever its size (the operator's `vacuum`, server stopped). */
  vacuum(em: EntityManager): Promise<void> {
    return this.stores.database.vacuum(em);
  }

  /** Halves the batch after a slow one, doubles it after a quick one. */
  private nextLimit(limit: number, took: number): number {
    const { targetBatchMs, minBatch, maxBatch } = this.pacing;
    if (took > targetBatchMs) return Math.max(minBatch, Math.floor(limit / 2));
    if (took < targetBatchMs / 2) return Math.min(maxBatch, limit * 2);
    return limit;
  }

  /** At least as long as the batch took: requests get at least half the database. False when aborted. */
  private async pause(took: number, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      await sleep(Math.max(this.pacing.minPauseMs, took), undefined, { signal });
      return true;
    } catch {
      return false;
    }
  }
}

/** What maintenance needs of the configuration: the database and the lifetimes that say what is dead. */
export type MaintenanceConfig = Pick<Config, "database" | "refreshTokenTtl" | "loginThrottle">;

/** Maintenance of `config`'s database, with its lifetimes. */
export function createMaintenance(config: MaintenanceConfig, clock: Clock): Maintenance {
  return new Maintenance(
    {
      sessions: new SessionStore(config.database.kind),
      loginFailures: new LoginAttemptStore(config.database.kind),
      rateLimits: new RateLimitStore(config.database.kind),
      emailTokens: new EmailTokenStore(config.database.kind),
      webauthnChallenges: new WebAuthnChallengeStore(config.database.kind),
      mfaChallenges: new MfaChallengeStore(config.database.kind),
      oauthFlows: new OAuthStore(config.database.kind),
      outbox: new OutboxStore(config.database.kind),
      database: new MaintenanceStore(config.database.kind),
    },
    {
      sessionRetention: DEFAULT_SESSION_RETENTION,
      refreshTokenTtl: config.refreshTokenTtl,
      loginFailureWindow: config.loginThrottle.windowSeconds,
      mailRetention: DEFAULT_MAIL_RETENTION,
    },
    clock,
    PACING[config.database.kind],
  );
}

/** Rows a report counts as deleted, all tables together. */
export function deletedRows(report: MaintenanceReport): number {
  const { ended, expired, idle } = report.sessions;
  return (
    ended +
    expired +
    idle +
    report.loginFailures +
    report.rateLimitCounters +
    report.emailTokens +
    report.mfaChallenges +
    report.webauthnChallenges +
    report.oauthFlows +
    report.mail.sent +
    report.mail.failed
  );
}

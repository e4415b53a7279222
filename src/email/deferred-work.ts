import { randomInt } from "node:crypto";

/**
 * Work a request starts but does not wait for. `requestPasswordReset` and
 * `requestSignInEmail` answer `true` at once and look the account up
 * afterwards, so their answer takes the same time whether or not it exists
 * (BEHAVIOUR.md §7: no account enumeration by timing). Closing the server
 * waits for what is still running.
 */
export class DeferredWork {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly onError: (error: unknown) => void,
    /** The work starts after a random delay below this many milliseconds. */
    private readonly maxDelayMs = 1000,
  ) {}

  /**
   * Starts `task` after a random delay. At once, it would delay the request's
   * own answer (on SQLite the driver runs statements on the event loop); right
   * after the answer, it would slow the next request on the server whenever
   * the account exists, and a request sent just behind the first would tell.
   * At a random moment within the next second it falls on no request in
   * particular. A mail a second later makes no difference to its reader.
   */
  run(task: () => Promise<void>): void {
    const delay = randomInt(0, this.maxDelayMs);
    const running: Promise<void> = new Promise<void>((resolve) => setTimeout(resolve, delay))
      .then(task)
      .catch(this.onError)
      .finally(() => this.pending.delete(running));
    this.pending.add(running);
  }

  /** Resolves once nothing started so far is still running. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}

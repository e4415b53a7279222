/**
 * Work a request starts but does not wait for. `requestPasswordReset` and
 * `requestSignInEmail` answer `true` at once and look the account up
 * afterwards, so their answer takes the same time whether or not it exists
 * (BEHAVIOUR.md §7: no account enumeration by timing). Closing the server
 * waits for what is still running.
 */
export class DeferredWork {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly onError: (error: unknown) => void) {}

  /**
   * Starts `task` once the current request's answer is on its way: on
   * SQLite the driver runs statements on the event loop, so a task started at
   * once would hold the answer back by its own duration.
   */
  run(task: () => Promise<void>): void {
    const running: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
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

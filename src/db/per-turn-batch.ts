/**
 * Collects what is asked for during one turn of the event loop and hands it
 * over as one batch at the turn's end (`setImmediate`, after the turn's I/O
 * callbacks). Under load a turn takes in several requests; their database
 * work then runs together (the session checks, SQLite's grouped commits),
 * with its code and data still in the CPU's caches. Nothing asked for waits
 * longer than the rest of its turn.
 */
export class PerTurnBatch<T> {
  private items: T[] = [];

  constructor(private readonly run: (batch: T[]) => void) {}

  add(item: T): void {
    if (this.items.push(item) === 1) setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    const batch = this.items;
    this.items = [];
    this.run(batch);
  };
}

/**
 * At most `slots` large operations execute at once; the others wait their
 * turn, first come first served, and every turn of the event loop lets other
 * requests in.
 *
 * Why: Node runs one piece of work at a time, and on SQLite (a synchronous
 * driver) an operation runs from its first resolver to its last byte without
 * giving the event loop back. Forty-eight requests for a page of the longest
 * notes, read in one turn of the loop, then ran back to back for most of a
 * second, and another user's `me` waited seconds to be read at all. Here a
 * large operation keeps its slot across a turn of the loop, so the ones read
 * with it queue; each freed slot passes on in a later turn, after the loop
 * has read and answered whatever else arrived (`me`, login, small queries).
 */
export class LargeOperationGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly slots: number) {}

  /** Resolves when the operation may run, with the function that frees its slot (safe to call twice). */
  async enter(): Promise<() => void> {
    if (this.running < this.slots) {
      this.running += 1;
      await nextTurn();
    } else {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const next = this.waiting.shift();
      if (next)
        setImmediate(next); // the slot passes on, in a later turn
      else this.running -= 1;
    };
  }

  /** Operations running and waiting. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

import { rateLimited } from "../errors";

/**
 * Bounds password hashing: at most `maxConcurrent` argon2 operations run (each
 * holds ARGON2_MEMORY_KIB of memory and a libuv thread), at most `maxQueued`
 * wait, and the rest are refused at once with RATE_LIMITED. A login storm
 * then costs bounded memory and leaves threads for everything else.
 */
export class HashingQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly maxConcurrent: number,
    private readonly maxQueued: number,
  ) {}

  /** Hashes running and waiting now (the metrics' gauges). */
  get depth(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.maxConcurrent) {
      if (this.waiting.length >= this.maxQueued) throw rateLimited(1);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next waiter, or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

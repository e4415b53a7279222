import type { Clock } from "../../src/clock";

/**
 * A clock a test moves. It follows real time (so timestamps still order the
 * way they happened) plus an offset that `advance` adds to: a test jumps past
 * a lifetime or a window at once instead of sleeping, and nothing depends on
 * where in the wall-clock minute it started.
 */
export class TestClock implements Clock {
  private offsetMs = 0;

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  advance(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }

  /** Jumps to the start of the next period of `seconds` (a rate window), so a test never straddles one. */
  alignTo(seconds: number): void {
    const period = seconds * 1000;
    const now = this.now().getTime();
    this.offsetMs += Math.ceil(now / period) * period - now;
  }
}

/**
 * Where the server reads the time. Every lifetime, grace period, lockout and
 * rate window is measured against it, so tests move a clock instead of
 * sleeping (and never depend on where in the wall-clock minute they start).
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

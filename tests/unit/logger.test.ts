import { describe, expect, it } from "vitest";
import { isoTime } from "../../src/http/logger";

describe("isoTime (the log lines' timestamp, formatted once per second)", () => {
  it.each([
    0,
    1,
    9,
    10,
    99,
    100,
    999,
    1000,
    Date.UTC(2026, 10, 26, 23, 59, 59, 999),
    Date.UTC(2026, 10, 27, 0, 0, 0, 0),
    Date.UTC(2028, 1, 29, 12, 0, 0, 7),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999),
  ])("%d ms is what toISOString says", (ms) => {
    expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it("stays right when the seconds go back and forth (clock steps, any order of calls)", () => {
    let seed = 42;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    const base = Date.UTC(2026, 10, 26, 17, 0, 0, 0);
    for (let i = 0; i < 2_000; i++) {
      // Within a few seconds of each other, so the cached second is reused, left and come back to.
      const ms = base + (next() % 5_000) - 2_500;
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });
});

import { describe, expect, it } from "vitest";
import { censorSecrets, isoTime } from "../../src/http/logger";

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

describe("censorSecrets (what a log line may carry)", () => {
  class Carrier {
    password = "left to its serializer";
  }
  const withField = Object.assign(new Error("boom"), { refreshToken: "t", code: "E1" });

  it.each([
    ["a top-level password", { password: "p" }, { password: "[redacted]" }],
    [
      "a nested one, its siblings kept",
      { input: { password: "p", email: "e" } },
      { input: { password: "[redacted]", email: "e" } },
    ],
    ["in an array", { list: [{ refreshToken: "t" }, 1] }, { list: [{ refreshToken: "[redacted]" }, 1] }],
    [
      "headers",
      { headers: { authorization: "Bearer x", cookie: "c", "set-cookie": ["s"] } },
      { headers: { authorization: "[redacted]", cookie: "[redacted]", "set-cookie": "[redacted]" } },
    ],
    [
      "every name",
      { a: { currentPassword: 1, newPassword: 2, accessToken: 3 } },
      { a: { currentPassword: "[redacted]", newPassword: "[redacted]", accessToken: "[redacted]" } },
    ],
    [
      "six levels down",
      { a: { b: { c: { d: { e: { password: "p" } } } } } },
      { a: { b: { c: { d: { e: { password: "[redacted]" } } } } } },
    ],
  ])("censors %s, leaving the original untouched", (_, line, expected) => {
    const before = structuredClone(line);
    expect(censorSecrets(line)).toEqual(expected);
    expect(line).toEqual(before);
  });

  it("censors an error's own fields and keeps its type, message and stack", () => {
    const censored = censorSecrets({ err: withField }).err as unknown as Record<string, unknown>;
    expect(censored).toMatchObject({ type: "Error", message: "boom", code: "E1", refreshToken: "[redacted]" });
    expect(censored.stack).toBe(withField.stack);
    expect(withField.refreshToken).toBe("t");
  });

  it("answers a line without secrets as it is, uncopied (no cost on every request)", () => {
    const line = { reqId: "r1", res: { statusCode: 200 }, list: [1, { a: "b" }], n: null };
    expect(censorSecrets(line)).toBe(line);
  });

  it("leaves objects of other classes to their serializers, and stops below six levels (a cycle cannot hang it)", () => {
    const carrier = new Carrier();
    expect(censorSecrets({ req: carrier }).req).toBe(carrier);
    const cycle: Record<string, unknown> = { password: "p" };
    cycle.self = cycle;
    expect((censorSecrets(cycle) as Record<string, unknown>).password).toBe("[redacted]");
  });
});

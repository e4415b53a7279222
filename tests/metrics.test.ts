import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MAX_OPERATION_NAMES } from "../src/http/metrics";
import { errorCode, gql, LOGIN, me, REFRESH, register } from "./helpers/graphql";
import { enqueueMail, signInMail } from "./helpers/mail";
import { runToExit, tempDir } from "./helpers/process";
import { startServer, type TestServer } from "./helpers/server";
import { mailEnv, startSmtpSink } from "./helpers/smtp-sink";

/** BEHAVIOUR.md §11: METRICS_PORT serves Prometheus text on 127.0.0.1, never on the public listener. */

/** Every sample of a Prometheus text page: `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

let server: TestServer;
let metricsUrl: string;
const scrape = async () => {
  const response = await fetch(metricsUrl);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await response.text());
};
const value = (samples: Map<string, number>, name: string) => samples.get(name) ?? 0;

/** Where a server with METRICS_PORT=0 said its metrics are. */
function metricsUrlOf(target: TestServer): string {
  const line = target.logs.find((l) => l.includes("metrics listening at")) ?? "";
  const url = /http:\/\/127\.0\.0\.1:\d+\/metrics/.exec(line)?.[0];
  if (url === undefined) throw new Error("no metrics listener in the log");
  return url;
}

beforeAll(async () => {
  server = await startServer({ METRICS_PORT: "0" });
  metricsUrl = metricsUrlOf(server);
});
afterAll(() => server.close());

describe("METRICS_PORT", () => {
  it("counts logins, failures, refreshes and reuse detections as they happen", async () => {
    const before = await scrape();
    const user = await register(server.url);
    expect(errorCode(await gql(server.url, LOGIN, { email: user.email, password: user.password }))).toBeUndefined();
    for (let i = 0; i < 2; i++) {
      const wrong = await gql(server.url, LOGIN, { email: user.email, password: "not the password at all" });
      expect(errorCode(wrong)).toBe("INVALID_CREDENTIALS");
    }
    const rotated = await gql(server.url, REFRESH, { token: user.refreshToken });
    expect(rotated.body.data?.refreshToken.refreshToken).toBeTypeOf("string");
    server.clock.advance(3_600); // past the reuse grace: the first token back is theft
    expect(errorCode(await gql(server.url, REFRESH, { token: user.refreshToken }))).toBe("REFRESH_TOKEN_REUSED");

    const after = await scrape();
    const delta = (labels: string) =>
      value(after, `auth_events_total{${labels}}`) - value(before, `auth_events_total{${labels}}`);
    expect({
      register: delta('event="register",outcome="success"'),
      login: delta('event="login",outcome="success"'),
      loginFailures: delta('event="login",outcome="failure"'),
      refresh: delta('event="refresh",outcome="success"'),
      reuse: delta('event="refresh_token_reused",outcome="failure"'),
    }).toEqual({ register: 1, login: 1, loginFailures: 2, refresh: 1, reuse: 1 });
  });

  it("counts throttled logins", async () => {
    const throttled = await startServer({ METRICS_PORT: "0", LOGIN_MAX_FAILURES: "1" });
    try {
      const url = metricsUrlOf(throttled);
      const user = await register(throttled.url);
      for (let i = 0; i < 2; i++) await gql(throttled.url, LOGIN, { email: user.email, password: "wrong wrong wrong" });
      const refused = await gql(throttled.url, LOGIN, { email: user.email, password: user.password });
      expect(errorCode(refused)).toBe("RATE_LIMITED");
      const samples = parse(await (await fetch(url)).text());
      expect(value(samples, 'auth_events_total{event="login_throttled",outcome="failure"}')).toBeGreaterThanOrEqual(1);
    } finally {
      await throttled.close();
    }
  });

  it("times each operation by name, with anonymous and invalid operations bucketed and names capped", async () => {
    const user = await register(server.url);
    const before = await scrape();
    for (let i = 0; i < 3; i++) expect((await me(server.url, user.accessToken)).body.data?.me.id).toBe(user.user.id);
    await gql(server.url, "{ me { id } }", {}, { token: user.accessToken });
    await gql(server.url, "query Broken { me { nonsense } }");
    // A client can choose any number of names: past the cap they share one label.
    for (let i = 0; i < MAX_OPERATION_NAMES + 10; i++) await gql(server.url, `query Probe${i} { __typename }`);

    const after = await scrape();
    const count = (operation: string) =>
      value(after, `auth_graphql_operation_duration_seconds_count{operation="${operation}"}`) -
      value(before, `auth_graphql_operation_duration_seconds_count{operation="${operation}"}`);
    expect(count("Me")).toBe(3);
    expect(count("anonymous")).toBe(1);
    expect(count("invalid")).toBe(1);
    expect(count("other")).toBeGreaterThanOrEqual(10);
    expect(value(after, 'auth_graphql_operation_duration_seconds_bucket{le="+Inf",operation="Me"}')).toBe(
      value(after, 'auth_graphql_operation_duration_seconds_count{operation="Me"}'),
    );
    const labels = new Set(
      [...after.keys()]
        .filter((k) => k.startsWith("auth_graphql_operation_duration_seconds_count"))
        .map((k) => /operation="([^"]*)"/.exec(k)?.[1]),
    );
    expect(labels.size).toBeLessThanOrEqual(MAX_OPERATION_NAMES + 3); // the names, anonymous, invalid, other
  });

  it("shows the hashing queue's depth while logins wait for a slot, and Node's process metrics", async () => {
    // One hash at a time at the production cost: a few logins at once queue up.
    const slow = await startServer({
      METRICS_PORT: "0",
      HASH_MAX_CONCURRENT: "1",
      ARGON2_MEMORY_KIB: "19456",
      ARGON2_TIME_COST: "2",
    });
    try {
      const url = metricsUrlOf(slow);
      const user = await register(slow.url);
      let done = false;
      const logins = Promise.all(
        Array.from({ length: 6 }, () => gql(slow.url, LOGIN, { email: user.email, password: user.password })),
      ).finally(() => {
        done = true;
      });
      const seen = { running: 0, waiting: 0 };
      while (!done) {
        const samples = parse(await (await fetch(url)).text());
        seen.running = Math.max(seen.running, value(samples, "auth_password_hashes_running"));
        seen.waiting = Math.max(seen.waiting, value(samples, "auth_password_hashes_waiting"));
      }
      for (const login of await logins) expect(errorCode(login)).toBeUndefined();
      expect(seen.running).toBe(1);
      expect(seen.waiting).toBeGreaterThanOrEqual(1);

      const idle = parse(await (await fetch(url)).text());
      expect(idle.get("auth_password_hashes_running")).toBe(0);
      expect(idle.get("auth_password_hashes_waiting")).toBe(0);
      expect(idle.get("process_cpu_user_seconds_total")).toBeGreaterThan(0);
      expect(idle.has("nodejs_eventloop_lag_seconds")).toBe(true);
      expect(idle.has("nodejs_heap_size_used_bytes")).toBe(true);
    } finally {
      await slow.close();
    }
  });

  it("shows the mail outbox's backlog at each scrape, and counts mails sent, retried and given up", async () => {
    const sink = await startSmtpSink();
    const mailer = await startServer({ ...mailEnv(sink), METRICS_PORT: "0" });
    try {
      const url = metricsUrlOf(mailer);
      const samples = async () => parse(await (await fetch(url)).text());
      const settled = async (attempts: number, count: number) =>
        vi.waitFor(
          async () => {
            const rows = await mailer.sql<{ attempts: number; claimed_until: unknown }>(
              "select attempts, claimed_until from mail_outbox where status = 'pending'",
            );
            expect(rows.filter((r) => r.attempts === attempts && r.claimed_until === null)).toHaveLength(count);
          },
          { timeout: 10_000, interval: 20 },
        );
      expect(value(await samples(), "auth_mail_outbox_pending")).toBe(0);

      sink.refuse();
      await enqueueMail(mailer, ...[1, 2, 3].map((i) => signInMail(`metrics${i}.${Date.now()}@example.com`)));
      await settled(1, 3);
      let now = await samples();
      expect(value(now, "auth_mail_outbox_pending")).toBe(3);
      expect(value(now, 'auth_mail_attempt_failures_total{template="sign-in"}')).toBe(3);
      expect(value(now, 'auth_mail_sent_total{template="sign-in"}')).toBe(0);

      sink.accept();
      mailer.clock.advance(3_600);
      await vi.waitFor(async () => expect(value(await samples(), "auth_mail_outbox_pending")).toBe(0), {
        timeout: 10_000,
      });
      now = await samples();
      expect(value(now, 'auth_mail_sent_total{template="sign-in"}')).toBe(3);

      sink.refuse();
      await enqueueMail(mailer, { template: "password-changed", to: `given.up.${Date.now()}@example.com`, params: {} });
      await settled(1, 1);
      mailer.clock.advance(25 * 3_600);
      await vi.waitFor(
        async () => expect(value(await samples(), 'auth_mail_failed_total{template="password-changed"}')).toBe(1),
        { timeout: 10_000 },
      );
      expect(value(await samples(), "auth_mail_outbox_pending")).toBe(0);
    } finally {
      sink.accept();
      await mailer.close();
      await sink.close();
    }
  });

  it("is on 127.0.0.1 only and never on the public listener", async () => {
    expect(new URL(metricsUrl).hostname).toBe("127.0.0.1");
    for (const path of ["/metrics", "/metrics/", "/graphql/metrics"]) {
      expect((await fetch(`${server.url}${path}`)).status, path).toBe(404);
    }
    // The metrics listener serves nothing else.
    expect((await fetch(metricsUrl.replace("/metrics", "/graphql"))).status).toBe(404);
  });

  it("is off without METRICS_PORT, and an invalid value stops the start naming it", async () => {
    const plain = await startServer();
    try {
      expect(plain.logs.some((l) => l.includes("metrics listening"))).toBe(false);
      expect((await fetch(`${plain.url}/metrics`)).status).toBe(404);
    } finally {
      await plain.close();
    }
    const { code, output } = await runToExit(tempDir(), { METRICS_PORT: "prometheus" });
    expect(code).not.toBe(0);
    expect(output).toContain("METRICS_PORT");
  });
});

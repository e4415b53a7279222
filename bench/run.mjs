// npm run bench [-- --smoke] [-- --duration 10] [-- --connections 16] [-- --profile me|refresh|login|ceiling] [-- --hot]
//
// Builds the server, starts it with production settings on a fresh SQLite file
// (or on DATABASE_URL when it is postgres://), seeds users, and measures the
// hot paths with autocannon from this process over loopback, next to three
// ceilings measured in the same run. --smoke: a few seconds, fails only on
// errors (CI); never a timed test.
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import argon2 from "argon2";
import Database from "better-sqlite3";
import jwt from "jsonwebtoken";
import * as OTPAuth from "otpauth";
import pg from "pg";
import { load } from "./lib/load.mjs";
import { rssOf, startProcess, threadCpuMs, withPeakRss } from "./lib/processes.mjs";
import { summariseProfile } from "./lib/profile.mjs";

const ROOT = join(import.meta.dirname, "..");
const { values: flags } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    duration: { type: "string" },
    connections: { type: "string" },
    // --profile me|refresh|login: only that row, the server under --cpu-prof; prints where its time goes.
    // --profile ceiling: the Apollo in-memory ceiling answering `me` under --cpu-prof, to set beside `me`'s.
    profile: { type: "string" },
    // --hot: only the two ceilings, `me` and `refreshToken`, and their ratios (a minute, for comparing changes).
    hot: { type: "boolean", default: false },
  },
});
const smoke = flags.smoke;
const duration = Number(flags.duration ?? (smoke ? 1 : 10));
const connections = Number(flags.connections ?? (smoke ? 4 : 16));
const warmup = smoke ? 0.5 : 3;
// The RSS criterion reads 200,000 requests after a warm-up of at least one chunk (see the RSS row).
const rssChunks = smoke ? 2 : 20;
const rssChunkSize = smoke ? 500 : 10_000;
const rssMaxWarmupChunks = smoke ? 1 : 15;
const storageRotations = smoke ? 200 : 10_000;
const PASSWORD = "bench correct horse battery staple";

execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
const { loadConfig } = await import(join(ROOT, "dist", "src", "config.js"));

const work = mkdtempSync(join(tmpdir(), "auth-bench-"));
const cpuProfile = ["--cpu-prof", `--cpu-prof-dir=${join(work, "profile")}`];
const databaseUrl = process.env.DATABASE_URL?.startsWith("postgres")
  ? process.env.DATABASE_URL
  : `sqlite:${join(work, "bench.sqlite")}`;
const serverEnv = {
  PATH: process.env.PATH ?? "",
  NODE_ENV: "production",
  HOST: "127.0.0.1",
  PORT: "0",
  DATABASE_URL: databaseUrl,
  JWT_SECRET: randomBytes(48).toString("base64"),
  SECRET_KEYS: randomBytes(32).toString("hex"),
  // All load comes from one address: the per-address limit would measure itself.
  AUTH_RATE_LIMIT_PER_MINUTE: "1000000000",
  // Maintenance every second (idle until the last row gives it a backlog).
  MAINTENANCE_INTERVAL: "1",
  // The bench sends no mail.
  MAIL_TRANSPORT: "none",
  ...(process.env.LOG_LEVEL ? { LOG_LEVEL: process.env.LOG_LEVEL } : {}),
};
const { config } = loadConfig(serverEnv);

const targets = [];
const start = async (options) => {
  const target = await startProcess({ ...options, logFile: join(work, `${options.name}.log`) });
  targets.push(target);
  return target;
};
const cleanUp = async () => {
  await Promise.all(targets.map((t) => t.stop()));
  rmSync(work, { recursive: true, force: true });
};

async function bench() {
  const server = await start({
    name: "server",
    args: [...(flags.profile && flags.profile !== "ceiling" ? cpuProfile : []), join(ROOT, "dist", "src", "main.js")],
    env: serverEnv,
    listening: /Server listening at http:\/\/127\.0\.0\.1:(\d+)/,
  });

  // Seed: one user per connection for `me`, another per connection for refresh chains.
  const gql = async (query, variables, token) => {
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (body.errors) throw new Error(`seeding failed: ${JSON.stringify(body.errors)}`);
    return body.data;
  };
  const run = randomBytes(4).toString("hex");
  const users = [];
  for (let i = 0; i < 2 * connections; i++) {
    const email = `bench.${run}.${i}@example.com`;
    const { register } = await gql(
      "mutation($e:String!,$p:String!){register(input:{email:$e,password:$p}){accessToken refreshToken user{id}}}",
      { e: email, p: PASSWORD },
    );
    users.push({ email, ...register });
  }
  const meUsers = users.slice(0, connections);
  // Users with every second factor (a confirmed TOTP and three passkeys), for
  // the row that shows `me` costs them the same: TOTP through the API, the
  // passkeys by SQL (a WebAuthn ceremony needs a browser; `me` reads neither).
  const mfaUsers = [];
  if (!flags.profile) {
    for (let i = 0; i < connections; i++) {
      const { register } = await gql(
        "mutation($e:String!,$p:String!){register(input:{email:$e,password:$p}){accessToken user{id}}}",
        { e: `bench.${run}.mfa.${i}@example.com`, p: PASSWORD },
      );
      const { startTotpSetup } = await gql("mutation{startTotpSetup{secret}}", {}, register.accessToken);
      const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(startTotpSetup.secret) });
      await gql("mutation($c:String!){confirmTotpSetup(code:$c)}", { c: totp.generate() }, register.accessToken);
      mfaUsers.push(register);
    }
    await insertPasskeys(
      databaseUrl,
      mfaUsers.map((u) => u.user.id),
      3,
    );
  }
  // Refresh-token chains, one per connection. autocannon's per-connection
  // context lasts one request, so a chain is a queue entry: a request takes
  // one, its response puts the rotated token back. Tokens still in flight when
  // a run stops go back as they were: presenting a token whose response was
  // lost, within the grace period, is what a client does then.
  const chains = users.slice(connections).map((u) => u.refreshToken);
  const inFlight = new Set();
  const ME = "query Me { me { id email roles } }";
  /** `me` requests taking the users' access tokens in turn. */
  const meRequests = (of) => {
    let next = 0;
    return () => ({ headers: { authorization: `Bearer ${of[next++ % of.length].accessToken}` }, body: { query: ME } });
  };
  const meRequest = meRequests(meUsers);
  const meMfaRequest = meRequests(mfaUsers);
  const measure = async (target, options) => {
    await load({ url: target.url, connections, duration: warmup, ...options });
    options.afterRun?.();
    options.beforeRun?.();
    const result = await withPeakRss(target.child.pid, () =>
      load({ url: target.url, connections, duration, ...options }),
    );
    options.afterRun?.();
    return result;
  };

  const REFRESH = "mutation($t:String!){refreshToken(refreshToken:$t){accessToken refreshToken}}";
  const refreshOptions = {
    request: (context) => {
      context.token = chains.shift();
      inFlight.add(context.token);
      return { body: { query: REFRESH, variables: { t: context.token } } };
    },
    onData: (data, context) => {
      inFlight.delete(context.token);
      if (data) chains.push(data.refreshToken.refreshToken);
    },
    afterRun: () => {
      chains.push(...inFlight);
      inFlight.clear();
    },
  };
  const LOGIN = "mutation($e:String!,$p:String!){login(input:{email:$e,password:$p}){accessToken}}";
  let nextLogin = 0;
  const loginRequest = () => ({
    body: { query: LOGIN, variables: { e: users[nextLogin++ % users.length].email, p: PASSWORD } },
  });
  const scenarios = {
    me: () => measure(server, { request: meRequest }),
    refresh: () => measure(server, refreshOptions),
    login: () => measure(server, { request: loginRequest }),
  };

  if (flags.profile && flags.profile !== "ceiling") {
    const result = await scenarios[flags.profile]();
    await server.stop();
    console.log(
      `${flags.profile}: ${result.rps.toFixed(0)} req/s, ${result.errors} errors (first: ${result.firstError}), under --cpu-prof\n\n${summariseProfile(join(work, "profile"))}`,
    );
    return;
  }

  // The ceilings answer `me` for the same tokens from memory.
  const fixture = join(work, "fixture.json");
  const sessions = Object.fromEntries(
    meUsers.map((u) => {
      const claims = jwt.decode(u.accessToken);
      return [claims.sid, { id: claims.sub, email: u.email, roles: claims.roles }];
    }),
  );
  writeFileSync(
    fixture,
    JSON.stringify({
      secret: serverEnv.JWT_SECRET,
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      sessions,
    }),
  );
  const bare = await start({
    name: "bare-http",
    args: [join(import.meta.dirname, "ceilings", "bare-http.mjs")],
    env: { PATH: serverEnv.PATH, NODE_ENV: "production", BENCH_FIXTURE: fixture },
    listening: /listening (\d+)/,
  });
  const apollo = await start({
    name: "apollo-memory",
    args: [
      ...(flags.profile === "ceiling" ? cpuProfile : []),
      "--import",
      "tsx",
      join(import.meta.dirname, "ceilings", "apollo-memory.ts"),
    ],
    env: { PATH: serverEnv.PATH, NODE_ENV: "production", BENCH_FIXTURE: fixture },
    listening: /listening (\d+)/,
  });
  if (flags.profile === "ceiling") {
    const result = await measure(apollo, { request: meRequest });
    await apollo.stop();
    console.log(
      `ceiling: ${result.rps.toFixed(0)} req/s, ${result.errors} errors, under --cpu-prof\n\n${summariseProfile(join(work, "profile"), 25, "/bench/ceilings/")}`,
    );
    return;
  }

  const rows = [];
  const row = (operation, result, extra = {}) => {
    rows.push({ operation, ...result, ...extra });
    if (result.errors > 0) console.error(`${operation}: ${result.errors} errors, first: ${result.firstError}`);
  };

  row("ceiling: bare node:http, JWT + Map", await measure(bare, { request: meRequest }));
  row("ceiling: Apollo + type-graphql, in memory", await measure(apollo, { request: meRequest }));
  row("me (session check in the database)", await scenarios.me());
  row("refreshToken rotation chains", await scenarios.refresh());
  if (!flags.hot) row("me, users with TOTP and 3 passkeys", await measure(server, { request: meMfaRequest }));
  if (flags.hot) {
    const apolloRps = rows[1].rps;
    console.log(
      `\n${cpus()[0]?.model ?? "cpu"} × ${availableParallelism()}, Node ${process.version}, ${databaseUrl.split(":")[0]}, ${connections} connections, ${duration} s per row\n`,
    );
    console.log("| operation | req/s | p50 ms | p99 ms | errors | ÷ Apollo ceiling |");
    console.log("|---|---:|---:|---:|---:|---:|");
    for (const r of rows) {
      console.log(
        `| ${r.operation} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} | ${(r.rps / apolloRps).toFixed(2)} |`,
      );
    }
    if (rows.some((r) => r.errors > 0)) process.exitCode = 1;
    return;
  }

  // Storage: every table's rows before and after many rotations of one session.
  const storage = await (async () => {
    const { register } = await gql(
      "mutation($e:String!,$p:String!){register(input:{email:$e,password:$p}){refreshToken}}",
      { e: `bench.${run}.storage@example.com`, p: PASSWORD },
    );
    const before = await countRows(databaseUrl);
    let token = register.refreshToken;
    for (let i = 0; i < storageRotations; i++) {
      token = (await gql(REFRESH, { t: token })).refreshToken.refreshToken;
    }
    const after = await countRows(databaseUrl);
    const sessions = after.sessions;
    const total = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);
    // A user's own rows (their second factors) are not the sessions', nor is the schema's history.
    const notOfSessions = [
      "users",
      "totp_credentials",
      "recovery_codes",
      "passkeys",
      "linked_accounts",
      "mikro_orm_migrations",
    ];
    const ofSessions = total(after) - notOfSessions.reduce((sum, table) => sum + (after[table] ?? 0), 0);
    return { added: total(after) - total(before), rowsPerSession: ofSessions / sessions, byTable: after };
  })();

  // RSS over many `me` requests, before any argon2 work (whose freed buffers
  // linger in RSS), once the heap has settled. After the server starts, V8
  // lets the old generation grow to about four times what its start-up
  // collection kept (a 184 MB heap before the first full collection under
  // load, 50 MB after it, then collections every few seconds at about 70 MB:
  // --trace-gc), so RSS climbs by about 100 MiB and then falls once, wherever
  // that collection lands. The warm-up runs until it has (a reading 10 %
  // below the highest so far), at most rssMaxWarmupChunks chunks: a leak
  // never falls, so it still reaches the measured chunks, and grows there.
  const rssChunk = async () => {
    const r = await load({ url: server.url, connections, amount: rssChunkSize, request: meRequest });
    return { errors: r.errors, rss: rssOf(server.child.pid) };
  };
  const warmupRss = [];
  let rssErrors = 0;
  do {
    const { errors, rss: reading } = await rssChunk();
    rssErrors += errors;
    warmupRss.push(reading);
  } while (warmupRss.length < rssMaxWarmupChunks && warmupRss.at(-1) > 0.9 * Math.max(...warmupRss));
  const rss = [];
  for (let i = 0; i < rssChunks; i++) {
    const { errors, rss: reading } = await rssChunk();
    rssErrors += errors;
    rss.push(reading);
  }
  // V8's heap breathes by tens of MiB between collections, so one reading says
  // little: compare the median of the later chunks with that of the earlier
  // ones. A leak grows steadily; breathing does not.
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const half = Math.ceil(rss.length / 2);
  const early = median(rss.slice(0, half));
  const rssDrift = (median(rss.slice(half)) - early) / early;

  // argon2id bound: what the machine hashes per second at the configured cost,
  // measured idle with one hash in flight per core (the server hashes that many
  // at a time). One hash alone × cores overstates it wherever two cores share a
  // physical core or memory bandwidth, as a 2-vCPU VM's often do; both are shown.
  const cost = { type: argon2.argon2id, ...config.argon2 };
  await argon2.hash(PASSWORD, cost);
  const samples = smoke ? 2 : 20;
  const cores = availableParallelism();
  const t0 = performance.now();
  for (let i = 0; i < samples; i++) await argon2.hash(PASSWORD, cost);
  const hashMs = (performance.now() - t0) / samples;
  const t1 = performance.now();
  await Promise.all(
    Array.from({ length: cores }, async () => {
      for (let i = 0; i < samples; i++) await argon2.hash(PASSWORD, cost);
    }),
  );
  const argon2Bound = (cores * samples) / ((performance.now() - t1) / 1000);
  // Where a login's CPU goes: the server's main thread (HTTP, GraphQL, the database) and its other
  // threads (argon2 on libuv's pool, V8's collector), in CPU time, which no profile's samples give.
  let cpuBefore;
  const login = await measure(server, {
    request: loginRequest,
    beforeRun: () => {
      cpuBefore = threadCpuMs(server.child.pid);
    },
  });
  const cpuAfter = threadCpuMs(server.child.pid);
  const used = (tid) => (cpuAfter.get(tid) ?? 0) - (cpuBefore.get(tid) ?? 0);
  const loginCpu = { main: used(server.child.pid) / login.requests, others: 0 };
  for (const tid of cpuAfter.keys()) if (tid !== server.child.pid) loginCpu.others += used(tid) / login.requests;
  row(`login (argon2id m=${cost.memoryCost} KiB, t=${cost.timeCost}, p=${cost.parallelism})`, login);

  // `me` while logins saturate the hashing pool.
  const storm = await withPeakRss(server.child.pid, async () => {
    const [logins, me] = await Promise.all([
      load({ url: server.url, connections, duration, request: loginRequest }),
      load({ url: server.url, connections: Math.max(1, connections / 4), duration, request: meRequest }),
    ]);
    return { logins, me };
  });
  row("me during a login storm", { ...storm.me, peakRss: storm.peakRss });
  row("  the login storm itself", { ...storm.logins, peakRss: storm.peakRss });

  // `me` while the server's maintenance timer deletes a backlog of dead
  // sessions written straight into the database, against `me` just before.
  const meLight = () =>
    withPeakRss(server.child.pid, () =>
      load({ url: server.url, connections: Math.max(1, connections / 4), duration, request: meRequest }),
    );
  const quiet = await meLight();
  const backlog = smoke ? 20_000 : 200_000;
  await insertDeadSessions(databaseUrl, users[0].user.id, backlog);
  for (const started = Date.now(); (await deadSessions(databaseUrl)) === backlog && Date.now() - started < 10_000; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const maintained = await meLight();
  const left = await deadSessions(databaseUrl);
  row(`me, ${Math.max(1, connections / 4)} connections, maintenance idle`, quiet);
  row(`me during maintenance (${backlog} dead sessions; ${left} left at the end)`, maintained);

  // Report.
  const byName = (prefix) => rows.find((r) => r.operation.startsWith(prefix));
  const bareRps = byName("ceiling: bare").rps;
  const mib = (bytes) => (bytes / 1024 / 1024).toFixed(0);
  console.log(
    `\n${cpus()[0]?.model ?? "cpu"} × ${cores}, Node ${process.version}, ${databaseUrl.split(":")[0]}, ${connections} connections, ${duration} s per row${smoke ? " (smoke)" : ""}\n`,
  );
  console.log("| operation | req/s | p50 ms | p99 ms | errors | peak RSS MiB |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(`| ${r.operation} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} | ${mib(r.peakRss)} |`);
  }
  const light = Math.max(1, connections / 4);
  const me = byName("me (");
  const apolloRps = byName("ceiling: Apollo").rps;
  const stormMe = byName("me during");
  const checks = [
    ["me ÷ Apollo in-memory ceiling", me.rps / apolloRps, "≥ 0.75", me.rps / apolloRps >= 0.75],
    [
      "refreshToken ÷ Apollo in-memory ceiling",
      byName("refreshToken").rps / apolloRps,
      "≥ 0.45",
      byName("refreshToken").rps / apolloRps >= 0.45,
    ],
    ["me ÷ bare-node ceiling (reference)", me.rps / bareRps, "", true],
    ["Apollo in memory ÷ bare-node ceiling (reference)", apolloRps / bareRps, "", true],
    [
      `login ÷ argon2 bound (${argon2Bound.toFixed(0)} hashes/s with ${cores} at a time; one alone takes ${hashMs.toFixed(1)} ms, ${(cores / (hashMs / 1000)).toFixed(0)}/s × ${cores} cores)`,
      login.rps / argon2Bound,
      "≥ 0.9",
      login.rps / argon2Bound >= 0.9,
    ],
    ["login: the server's main thread, CPU ms per login (reference)", loginCpu.main, "", true],
    ["login: its other threads (argon2, V8's collector), CPU ms per login (reference)", loginCpu.others, "", true],
    ["me p99 during the login storm, ms", stormMe.p99, "< 50", stormMe.p99 < 50],
    [
      "me for users with TOTP and 3 passkeys ÷ me",
      byName("me, users with").rps / me.rps,
      "≥ 0.90 (the same cost)",
      byName("me, users with").rps / me.rps >= 0.9,
    ],
    [
      "me p99 during maintenance − with maintenance idle, ms",
      byName("me during maintenance").p99 - byName(`me, ${light} connections`).p99,
      "< 50",
      byName("me during maintenance").p99 - byName(`me, ${light} connections`).p99 < 50,
    ],
    [
      `refresh storage: rows added by ${storageRotations} rotations of one session (all tables)`,
      storage.added,
      "0 (constant)",
      storage.added === 0,
    ],
    [
      "rows per session: every table but the users' own (second factors, identities) and the migrations'",
      storage.rowsPerSession,
      "",
      true,
    ],
    [
      `RSS drift over ${rssChunks * rssChunkSize} me requests after ${warmupRss.length * rssChunkSize} of warm-up (${warmupRss.map(mib).join(", ")} MiB): later ÷ earlier chunks' median − 1 (${rss.map(mib).join(", ")} MiB)`,
      rssDrift,
      "within ± 0.10",
      Math.abs(rssDrift) <= 0.1,
    ],
  ];
  console.log(
    `\nRows by table at the end of the storage row: ${Object.entries(storage.byTable)
      .filter(([, n]) => n > 0)
      .map(([table, n]) => `${table} ${n}`)
      .join(", ")}`,
  );
  console.log("\n| measure | value | target | met |");
  console.log("|---|---:|---|---|");
  for (const [name, value, target, met] of checks) {
    console.log(`| ${name} | ${value.toFixed(2)} | ${target} | ${target ? (met ? "yes" : "**no**") : ""} |`);
  }

  const errors = rows.reduce((sum, r) => sum + r.errors, 0) + rssErrors;
  if (errors > 0) {
    console.error(`\n${errors} requests failed`);
    process.exitCode = 1;
  }
}

/**
 * Runs `sqlite(db)` or `postgres(client)` against the bench database, beside
 * the running server, on a connection of its own that is closed after.
 */
async function onDatabase(url, { sqlite, postgres }) {
  if (url.startsWith("sqlite:")) {
    const db = new Database(url.slice("sqlite:".length));
    try {
      db.pragma("busy_timeout = 5000");
      return sqlite(db);
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await postgres(client);
  } finally {
    await client.end();
  }
}

/** `perUser` passkeys for each user (random credential ids and keys: `me` never reads them). */
function insertPasskeys(url, userIds, perUser) {
  const rows = userIds.flatMap((userId) =>
    Array.from({ length: perUser }, (_, i) => [
      randomUUID(),
      userId,
      randomBytes(32).toString("base64url"),
      randomBytes(77).toString("base64url"),
      `bench key ${i + 1}`,
    ]),
  );
  const columns =
    "id, user_id, credential_id, public_key, name, created_at, sign_count, transports, device_type, backed_up, last_used_at";
  const fixed = "0, 'internal,hybrid', 'multiDevice'";
  return onDatabase(url, {
    sqlite: (db) => {
      const insert = db.prepare(`insert into passkeys (${columns}) values (?, ?, ?, ?, ?, ?, ${fixed}, 1, null)`);
      db.transaction(() => {
        for (const row of rows) insert.run(...row, Date.now());
      })();
    },
    postgres: async (client) => {
      for (const row of rows) {
        await client.query(`insert into passkeys (${columns}) values ($1, $2, $3, $4, $5, $6, ${fixed}, true, null)`, [
          ...row,
          new Date(),
        ]);
      }
    },
  });
}

/** Sessions of `userId` that ended a month ago, in one statement. */
function insertDeadSessions(url, userId, count) {
  const columns = `id, user_id, created_at, last_used_at, expires_at, ended_at, end_reason, user_agent, ip,
    refresh_generation, refresh_rotated_at, refresh_retired_below, refresh_secret, refresh_key_id, legacy_token_hash`;
  const ago = Date.now() - 30 * 86_400_000;
  return onDatabase(url, {
    sqlite: (db) =>
      db
        .prepare(
          `insert into sessions (${columns})
           with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)
           select lower(hex(randomblob(16))), ?, ?, ?, ?, ?, 'LOGOUT', 'bench', '127.0.0.1', 1, null, 0,
                  lower(hex(randomblob(32))), null, null from n`,
        )
        .run(count, userId, ago, ago, ago + 60 * 86_400_000, ago),
    postgres: (client) =>
      client.query(
        `insert into sessions (${columns})
         select gen_random_uuid(), $1, $2, $2, $3, $2, 'LOGOUT', 'bench', '127.0.0.1', 1, null, 0, md5(random()::text), null, null
         from generate_series(1, $4)`,
        [userId, new Date(ago), new Date(ago + 60 * 86_400_000), count],
      ),
  });
}

/** Ended sessions still in the database. */
function deadSessions(url) {
  const sql = "select count(*) as n from sessions where ended_at is not null";
  return onDatabase(url, {
    sqlite: (db) => db.prepare(sql).get().n,
    postgres: async (client) => Number((await client.query(sql)).rows[0].n),
  });
}

/** Rows per table of the bench database. */
function countRows(url) {
  return onDatabase(url, {
    sqlite: (db) => {
      const tables = db
        .prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")
        .all();
      return Object.fromEntries(
        tables.map(({ name }) => [name, db.prepare(`select count(*) as n from "${name}"`).get().n]),
      );
    },
    postgres: async (client) => {
      const { rows } = await client.query("select tablename from pg_tables where schemaname = current_schema()");
      const counts = {};
      for (const { tablename } of rows) {
        counts[tablename] = Number((await client.query(`select count(*) as n from "${tablename}"`)).rows[0].n);
      }
      return counts;
    },
  });
}

try {
  await bench();
} finally {
  await cleanUp();
}

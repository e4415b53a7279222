import "reflect-metadata";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { MikroORM } from "@mikro-orm/core";
import type { AbstractSqlConnection } from "@mikro-orm/knex";
import argon2 from "argon2";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrmConfig } from "../mikro-orm.config";
import { loadConfig } from "../src/config";
import { migrationsList as postgresMigrations } from "../src/db/migrations/postgresql";
import { migrationsList as sqliteMigrations } from "../src/db/migrations/sqlite";
import { freshDatabaseUrl, TEST_DATABASE } from "./helpers/database";
import { errorCode, gql, LOGIN, LOGOUT, me, REFRESH_TOKEN_SHAPE, refresh, type Tokens } from "./helpers/graphql";
import { decodePart } from "./helpers/jwt";
import { countRows, sessionRow } from "./helpers/rows";
import { startServer, TEST_ENV, TEST_JWT_SECRET, type TestServer } from "./helpers/server";

// BEHAVIOUR.md §6.8: sessions created by the previous version keep working after
// the migration. The database is built with the version 1 schema and filled the
// way the version 1 server wrote it; then the real server starts on it.

const GRACE = 30;
const DAY = 86_400_000;
/** The first session core v2 migration of each dialect: everything before it is version 1. */
const FIRST_V2 = { sqlite: "Migration20261126081008", postgres: "Migration20261126081009" } as const;
const migrationsList = TEST_DATABASE === "postgres" ? postgresMigrations : sqliteMigrations;

const sid = (accessToken: string) => decodePart(accessToken, 1).sid as string;
/** A version 1 refresh token: 32 random bytes, base64url (43 characters). */
const v1Token = () => randomBytes(32).toString("base64url");
/** How version 1 stored it: SHA-256, base64url. */
const v1Hash = (token: string) => createHash("sha256").update(token, "utf8").digest("base64url");

interface V1Token {
  token: string;
  id: string;
}

/** What the version 1 database holds, and the tokens its clients hold. */
interface Seed {
  email: string;
  password: string;
  userId: string;
  /** Live; its chain: `used` (exchanged an hour ago) → `current` (unused). */
  live: { id: string; used: V1Token; current: V1Token; createdAt: number; expiresAt: number };
  /** Another live session of the same user, never rotated in version 1. */
  other: { id: string; current: V1Token };
  /** Ended by a logout in version 1; its last token was never exchanged. */
  ended: { id: string; current: V1Token; endedAt: number };
  /** Past its absolute end. */
  expired: { id: string; current: V1Token };
  /** Not refreshed for longer than REFRESH_TOKEN_TTL. */
  idle: { id: string; current: V1Token };
  /** Live; its client logs out after the upgrade. */
  leaving: { id: string; current: V1Token };
}

/** A fresh database migrated only up to the last version 1 migration, like `openDatabase` opens it. */
async function openV1Database(databaseUrl: string): Promise<MikroORM> {
  const { config } = loadConfig({ ...TEST_ENV, DATABASE_URL: databaseUrl });
  if (config.database.kind === "sqlite") {
    mkdirSync(dirname(config.database.path), { recursive: true });
    closeSync(openSync(config.database.path, "a", 0o600));
    chmodSync(config.database.path, 0o600);
  }
  const firstV2 = migrationsList.findIndex((m) => m.name === FIRST_V2[TEST_DATABASE]);
  expect(firstV2).toBeGreaterThan(0);
  const lastV1 = migrationsList[firstV2 - 1]!.name;
  const orm = await MikroORM.init(createOrmConfig(config.database));
  await orm.getMigrator().up({ to: lastV1 });
  const executed = (await orm.getMigrator().getExecutedMigrations()).map((m) => m.name);
  expect(executed).toEqual(migrationsList.slice(0, firstV2).map((m) => m.name));
  return orm;
}

/** Writes rows as the version 1 server did: SQLite dates as epoch milliseconds, PostgreSQL timestamptz. */
async function seedV1(orm: MikroORM): Promise<Seed> {
  const knex = (orm.em.getConnection() as AbstractSqlConnection).getKnex();
  const at = (ms: number | null) => (ms === null ? null : TEST_DATABASE === "postgres" ? new Date(ms) : ms);
  const now = Date.now();
  const email = `upgrade.${process.pid}.${now}@example.com`;
  const password = "correct horse battery staple";
  const userId = randomUUID();
  const passwordHash = await argon2.hash(password, { type: argon2.argon2id, memoryCost: 1024, timeCost: 1 });
  await knex.raw(
    "insert into users (id, email, password_hash, roles, created_at, updated_at) values (?, ?, ?, ?, ?, ?)",
    [userId, email, passwordHash, JSON.stringify(["USER"]), at(now - 3 * DAY), at(now - 3 * DAY)],
  );

  const session = async (s: {
    createdAt: number;
    lastUsedAt: number;
    expiresAt: number;
    endedAt?: number;
    endReason?: string;
  }) => {
    const id = randomUUID();
    await knex.raw(
      `insert into sessions (id, user_id, created_at, last_used_at, expires_at, ended_at, end_reason, user_agent, ip)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        id,
        userId,
        at(s.createdAt),
        at(s.lastUsedAt),
        at(s.expiresAt),
        at(s.endedAt ?? null),
        s.endReason ?? null,
        "Version1/1.0",
        "127.0.0.1",
      ],
    );
    return id;
  };
  const token = async (t: {
    sessionId: string;
    parentId?: string;
    createdAt: number;
    expiresAt: number;
    usedAt?: number;
  }): Promise<V1Token> => {
    const value = v1Token();
    const id = randomUUID();
    await knex.raw(
      `insert into refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, used_at)
       values (?, ?, ?, ?, ?, ?, ?)`,
      [id, t.sessionId, v1Hash(value), t.parentId ?? null, at(t.createdAt), at(t.expiresAt), at(t.usedAt ?? null)],
    );
    return { token: value, id };
  };
  const ttl = 14 * DAY;

  const liveCreated = now - 2 * DAY;
  const liveExpires = liveCreated + 30 * DAY;
  const liveId = await session({ createdAt: liveCreated, lastUsedAt: now - 3_600_000, expiresAt: liveExpires });
  const used = await token({
    sessionId: liveId,
    createdAt: liveCreated,
    expiresAt: liveCreated + ttl,
    usedAt: now - 3_600_000,
  });
  const current = await token({
    sessionId: liveId,
    parentId: used.id,
    createdAt: now - 3_600_000,
    expiresAt: now - 3_600_000 + ttl,
  });

  const otherId = await session({ createdAt: now - DAY, lastUsedAt: now - DAY, expiresAt: now + 29 * DAY });
  const other = await token({ sessionId: otherId, createdAt: now - DAY, expiresAt: now - DAY + ttl });

  const endedAt = now - 2 * 3_600_000;
  const endedId = await session({
    createdAt: now - DAY,
    lastUsedAt: now - DAY,
    expiresAt: now + 29 * DAY,
    endedAt,
    endReason: "LOGOUT",
  });
  const ended = await token({ sessionId: endedId, createdAt: now - DAY, expiresAt: now - DAY + ttl });

  const expiredId = await session({ createdAt: now - 31 * DAY, lastUsedAt: now - 2 * DAY, expiresAt: now - DAY });
  const expired = await token({ sessionId: expiredId, createdAt: now - 2 * DAY, expiresAt: now + 12 * DAY });

  const idleId = await session({ createdAt: now - 20 * DAY, lastUsedAt: now - 15 * DAY, expiresAt: now + 10 * DAY });
  const idle = await token({ sessionId: idleId, createdAt: now - 15 * DAY, expiresAt: now - DAY });

  const leavingId = await session({ createdAt: now - DAY, lastUsedAt: now - DAY, expiresAt: now + 29 * DAY });
  const leaving = await token({ sessionId: leavingId, createdAt: now - DAY, expiresAt: now - DAY + ttl });

  return {
    email,
    password,
    userId,
    live: { id: liveId, used, current, createdAt: liveCreated, expiresAt: liveExpires },
    other: { id: otherId, current: other },
    ended: { id: endedId, current: ended, endedAt },
    expired: { id: expiredId, current: expired },
    idle: { id: idleId, current: idle },
    leaving: { id: leavingId, current: leaving },
  };
}

/** An access token exactly as the version 1 server signed it (the test environment's HS256 key and defaults). */
function v1AccessToken(userId: string, sessionId: string): string {
  return jwt.sign({ sid: sessionId, roles: ["USER"] }, TEST_JWT_SECRET, {
    algorithm: "HS256",
    header: { alg: "HS256", typ: "at+jwt" },
    subject: userId,
    issuer: "auth-server",
    audience: "auth-server",
    expiresIn: 900,
    jwtid: randomUUID(),
  });
}

async function rotate(server: TestServer, token: string): Promise<Tokens> {
  const r = await refresh(server.url, token);
  if (!r.body.data?.refreshToken) throw new Error(`refresh failed: ${r.text}`);
  return r.body.data.refreshToken;
}

/** The carried-over columns of a session that `sessionRow` does not show. */
async function legacyColumns(server: TestServer, id: string) {
  const [row] = await server.sql<{ legacy_token_hash: string | null; refresh_key_id: string | null }>(
    "select legacy_token_hash, refresh_key_id from sessions where id = ?",
    [id],
  );
  return row;
}

describe(`upgrading a version 1 database on ${TEST_DATABASE} (BEHAVIOUR.md §6.8)`, () => {
  let server: TestServer;
  let seed: Seed;

  beforeAll(async () => {
    const databaseUrl = await freshDatabaseUrl();
    const v1 = await openV1Database(databaseUrl);
    try {
      seed = await seedV1(v1);
    } finally {
      await v1.close();
    }
    server = await startServer({ REFRESH_REUSE_GRACE: String(GRACE) }, databaseUrl);
  });
  afterAll(() => server?.close());

  it("applies the pending migration at start and drops refresh_tokens", async () => {
    const executed = (await server.app.orm.getMigrator().getExecutedMigrations()).map((m) => m.name);
    expect(executed).toEqual(migrationsList.map((m) => m.name));
    expect(executed).toContain(FIRST_V2[TEST_DATABASE]);
    const counts = await countRows(server);
    expect(Object.keys(counts)).not.toContain("refresh_tokens");
    expect(counts.sessions).toBe(6);
    expect(counts.users).toBe(1);
    if (server.config.database.kind === "sqlite") {
      // Owner-only, as openDatabase makes it; the rebuilt table changes nothing there.
      for (const suffix of ["", "-wal", "-shm"]) {
        const path = `${server.config.database.path}${suffix}`;
        if (existsSync(path)) expect((statSync(path).mode & 0o777).toString(8)).toBe("600");
      }
    }
  });

  it("builds exactly the schema the entities describe", async () => {
    expect(await server.app.orm.getSchemaGenerator().getUpdateSchemaSQL()).toBe("");
  });

  it("carries every session over with its own random secret and only its current token, as generation 0", async () => {
    const ids = [seed.live.id, seed.other.id, seed.ended.id, seed.expired.id, seed.idle.id, seed.leaving.id];
    const rows = await Promise.all(ids.map((id) => sessionRow(server, id)));
    for (const row of rows) {
      expect(row.refresh_secret).toMatch(/^[0-9a-f]{64}$/);
      expect(row).toMatchObject({ refresh_generation: 0, refresh_retired_below: 0, rotatedAt: null });
    }
    expect(new Set(rows.map((r) => r.refresh_secret)).size).toBe(rows.length);

    const live = rows[0]!;
    expect(live.endedAt).toBeNull();
    expect(live.expiresAt.getTime()).toBe(seed.live.expiresAt);
    expect(await legacyColumns(server, seed.live.id)).toEqual({
      legacy_token_hash: v1Hash(seed.live.current.token),
      refresh_key_id: null,
    });
    expect(rows[2]).toMatchObject({ end_reason: "LOGOUT" });
    expect(rows[2]!.endedAt?.getTime()).toBe(seed.ended.endedAt);

    const [{ n } = { n: -1 }] = await server.sql<{ n: number | string }>(
      "select count(*) as n from sessions where legacy_token_hash = ?",
      [v1Hash(seed.live.used.token)],
    );
    expect(Number(n)).toBe(0);
  });

  it("refuses the older, already exchanged version 1 token without touching its session", async () => {
    // Only the current token was carried over: the used one is unknown now (not theft).
    const before = await sessionRow(server, seed.live.id);
    expect(errorCode(await refresh(server.url, seed.live.used.token))).toBe("INVALID_REFRESH_TOKEN");
    expect(errorCode(await gql(server.url, LOGOUT, { token: seed.live.used.token }))).toBe("INVALID_REFRESH_TOKEN");
    // A version-1-shaped token nobody issued.
    expect(errorCode(await refresh(server.url, v1Token()))).toBe("INVALID_REFRESH_TOKEN");
    expect(await sessionRow(server, seed.live.id)).toEqual(before);
  });

  it("keeps ended, expired and idle version 1 sessions dead", async () => {
    for (const s of [seed.ended, seed.expired, seed.idle]) {
      const before = await sessionRow(server, s.id);
      expect(errorCode(await refresh(server.url, s.current.token))).toBe("INVALID_REFRESH_TOKEN");
      expect(await sessionRow(server, s.id)).toEqual(before);
    }
    expect((await sessionRow(server, seed.ended.id)).end_reason).toBe("LOGOUT");
  });

  let next: Tokens;
  let v1Access: string;

  it("accepts an access token the version 1 server issued", async () => {
    v1Access = v1AccessToken(seed.userId, seed.live.id);
    expect((await me(server.url, v1Access)).body.data?.me).toMatchObject({ id: seed.userId, email: seed.email });
  });

  it("ends a session by logout with its carried-over version 1 token, idempotently", async () => {
    const { token } = seed.leaving.current;
    expect((await gql(server.url, LOGOUT, { token })).body.data?.logout).toBe(true);
    expect((await gql(server.url, LOGOUT, { token })).body.data?.logout).toBe(true);
    expect(await sessionRow(server, seed.leaving.id)).toMatchObject({ end_reason: "LOGOUT", refresh_generation: 0 });
    expect(errorCode(await refresh(server.url, token))).toBe("INVALID_REFRESH_TOKEN");
    expect((await me(server.url, v1AccessToken(seed.userId, seed.leaving.id))).body.errors?.[0]?.extensions).toEqual({
      code: "UNAUTHENTICATED",
      reason: "REVOKED",
    });
  });

  it("rotates the current version 1 token once into a format 2 token of the same session", async () => {
    next = await rotate(server, seed.live.current.token);
    expect(next.refreshToken).toMatch(REFRESH_TOKEN_SHAPE);
    expect(sid(next.accessToken)).toBe(seed.live.id);
    expect(decodePart(next.accessToken, 1).sub).toBe(seed.userId);
    expect(next.user).toMatchObject({ id: seed.userId, email: seed.email, roles: ["USER"] });
    const viewer = await me(server.url, next.accessToken);
    expect(viewer.body.data?.me).toMatchObject({ id: seed.userId, email: seed.email });

    const row = await sessionRow(server, seed.live.id);
    expect(row).toMatchObject({ refresh_generation: 1, refresh_retired_below: 0, endedAt: null });
    expect(row.rotatedAt).not.toBeNull();
    expect(row.lastUsedAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
    // The version 1 hash stays: the token is generation 0 now, and coming back later is theft.
    expect((await legacyColumns(server, seed.live.id))?.legacy_token_hash).toBe(v1Hash(seed.live.current.token));
  });

  it("answers the same version 1 token within the grace period with the byte-identical next token", async () => {
    const again = await rotate(server, seed.live.current.token);
    expect(again.refreshToken).toBe(next.refreshToken);
    expect(sid(again.accessToken)).toBe(seed.live.id);
    expect((await me(server.url, again.accessToken)).body.data?.me?.id).toBe(seed.userId);
    expect((await sessionRow(server, seed.live.id)).refresh_generation).toBe(1);
  });

  it("treats the version 1 token after the grace period as theft and ends only that session", async () => {
    server.clock.advance(GRACE + 1);
    expect(errorCode(await refresh(server.url, seed.live.current.token))).toBe("REFRESH_TOKEN_REUSED");
    expect(await sessionRow(server, seed.live.id)).toMatchObject({ end_reason: "REFRESH_TOKEN_REUSED" });
    expect((await sessionRow(server, seed.live.id)).endedAt).not.toBeNull();
    expect(errorCode(await refresh(server.url, next.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
    expect((await me(server.url, next.accessToken)).body.errors?.[0]?.extensions).toEqual({
      code: "UNAUTHENTICATED",
      reason: "REVOKED",
    });
    expect((await me(server.url, v1Access)).body.errors?.[0]?.extensions).toEqual({
      code: "UNAUTHENTICATED",
      reason: "REVOKED",
    });
    expect(errorCode(await refresh(server.url, seed.live.current.token))).toBe("INVALID_REFRESH_TOKEN");

    // The user's other carried-over session is untouched, and rotates on.
    const other = await rotate(server, seed.other.current.token);
    expect(sid(other.accessToken)).toBe(seed.other.id);
    const later = await rotate(server, other.refreshToken);
    expect(later.refreshToken).not.toBe(other.refreshToken);
    expect((await gql(server.url, LOGOUT, { token: later.refreshToken })).body.data?.logout).toBe(true);
    expect(errorCode(await refresh(server.url, later.refreshToken))).toBe("INVALID_REFRESH_TOKEN");
  });

  it("signs the version 1 user in with the stored password", async () => {
    const r = await gql<{ login: Tokens }>(server.url, LOGIN, { email: seed.email, password: seed.password });
    const login = r.body.data?.login;
    if (!login) throw new Error(r.text);
    expect(login.user.id).toBe(seed.userId);
    expect(login.refreshToken).toMatch(REFRESH_TOKEN_SHAPE);
    const rotated = await rotate(server, login.refreshToken);
    expect(sid(rotated.accessToken)).toBe(sid(login.accessToken));
    const secrets = await server.sql<{ refresh_secret: string }>("select refresh_secret from sessions");
    expect(secrets).toHaveLength(7);
    expect(new Set(secrets.map((s) => s.refresh_secret)).size).toBe(7);
  });
});

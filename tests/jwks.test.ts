import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { freshDatabaseUrl } from "./helpers/database";
import { errorCode, me, register } from "./helpers/graphql";
import { forge } from "./helpers/jwt";
import { runToExit, tempDir } from "./helpers/process";
import { startServer, type TestServer } from "./helpers/server";

const OPERATOR = join(__dirname, "..", "dist", "src", "cli", "operator.js");

// jose is ESM-only; the test files are CommonJS, and a dynamic import() bridges that.
let jose: typeof import("jose", { with: { "resolution-mode": "import" }});
beforeAll(async () => {
  jose = await import("jose");
});
const decodeProtectedHeader = (token: string) => jose.decodeProtectedHeader(token);

/** `npm run cli -- gen-key ALG`, as an operator runs it. */
function genKey(algorithm: string): string {
  return execFileSync(process.execPath, [OPERATOR, "gen-key", algorithm], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
}

const jwksOf = async (server: TestServer) =>
  (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: Array<Record<string, string>> };
const asServer = (alg: string, keys: string[], dbPath?: string) =>
  startServer({ JWT_ALGORITHM: alg, JWT_PRIVATE_KEYS: keys.join("\n") }, dbPath);

describe.each(["ES256", "RS256"])("JWT_ALGORITHM=%s", (alg) => {
  it("signs with kid and lets another service verify tokens with the JWKS alone", async () => {
    const server = await asServer(alg, [genKey(alg)]);
    try {
      const user = await register(server.url);
      const header = decodeProtectedHeader(user.accessToken);
      expect(header).toMatchObject({ alg, typ: "at+jwt" });

      const jwks = await jwksOf(server);
      expect(jwks.keys).toHaveLength(1);
      const [jwk] = jwks.keys;
      expect(jwk).toMatchObject({ kid: header.kid, alg, use: "sig", kty: alg === "ES256" ? "EC" : "RSA" });
      expect(jwk).not.toHaveProperty("d"); // no private part
      expect(await jose.calculateJwkThumbprint(jwk as never)).toBe(header.kid); // RFC 7638

      // A resource server that knows only the JWKS URL:
      const remote = jose.createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
      const { payload } = await jose.jwtVerify(user.accessToken, remote, {
        issuer: "auth-server",
        audience: "auth-server",
        typ: "at+jwt",
        algorithms: [alg],
      });
      expect(payload).toMatchObject({ sub: user.user.id, roles: ["USER"] });
      expect((await me(server.url, user.accessToken)).body.data?.me.id).toBe(user.user.id);
    } finally {
      await server.close();
    }
  });

  it("keeps verifying tokens of the old key after a rotation, until the old key is removed", async () => {
    const [oldKey, newKey] = [genKey(alg), genKey(alg)];
    const dbPath = await freshDatabaseUrl();
    const before = await asServer(alg, [oldKey], dbPath);
    const user = await register(before.url);
    const oldKid = decodeProtectedHeader(user.accessToken).kid;
    await before.close();

    const rotated = await asServer(alg, [newKey, oldKey], dbPath);
    let fresh: string;
    try {
      expect((await me(rotated.url, user.accessToken)).body.data?.me.id).toBe(user.user.id);
      fresh = (await register(rotated.url)).accessToken;
      expect(decodeProtectedHeader(fresh).kid).not.toBe(oldKid);
      const jwks = jose.createLocalJWKSet((await jwksOf(rotated)) as never);
      await expect(jose.jwtVerify(user.accessToken, jwks, { typ: "at+jwt" })).resolves.toBeTruthy();
      await expect(jose.jwtVerify(fresh, jwks, { typ: "at+jwt" })).resolves.toBeTruthy();
    } finally {
      await rotated.close();
    }

    const retired = await asServer(alg, [newKey], dbPath);
    try {
      expect((await me(retired.url, user.accessToken)).body.errors?.[0]?.extensions).toEqual({
        code: "UNAUTHENTICATED",
        reason: "INVALID",
      });
      expect((await me(retired.url, fresh)).body.errors).toBeUndefined();
      const jwks = jose.createLocalJWKSet((await jwksOf(retired)) as never);
      await expect(jose.jwtVerify(user.accessToken, jwks)).rejects.toThrow();
    } finally {
      await retired.close();
    }
  });

  it("refuses algorithm confusion, alg none, unknown kids and foreign keys", async () => {
    const server = await asServer(alg, [genKey(alg)]);
    try {
      const user = await register(server.url);
      const claims = JSON.parse(Buffer.from(user.accessToken.split(".")[1]!, "base64url").toString());
      const { kid } = decodeProtectedHeader(user.accessToken);
      const publicPem = JSON.stringify((await jwksOf(server)).keys[0]);
      const forged = [
        forge({ alg: "HS256", typ: "at+jwt", kid }, claims, publicPem), // public key used as an HMAC secret
        forge({ alg: "none", typ: "at+jwt", kid }, claims, null),
        `${Buffer.from(JSON.stringify({ alg, typ: "at+jwt", kid: "someone-else" })).toString("base64url")}.${user.accessToken.split(".").slice(1).join(".")}`,
      ];
      for (const token of forged) {
        expect((await me(server.url, token)).body.errors?.[0]?.extensions).toEqual({
          code: "UNAUTHENTICATED",
          reason: "INVALID",
        });
      }
      // Signed by a key the server does not have, under the server's kid.
      const impostor = await asServer(alg, [genKey(alg)]);
      try {
        const other = await register(impostor.url);
        const [, payload, signature] = other.accessToken.split(".");
        const header = Buffer.from(JSON.stringify({ alg, typ: "at+jwt", kid })).toString("base64url");
        expect(errorCode(await me(server.url, `${header}.${payload}.${signature}`))).toBe("UNAUTHENTICATED");
      } finally {
        await impostor.close();
      }
    } finally {
      await server.close();
    }
  });
});

describe("keys and configuration", () => {
  it("publishes no JWKS with HS256", async () => {
    const server = await startServer();
    try {
      expect((await fetch(`${server.url}/.well-known/jwks.json`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it("accepts keys with escaped newlines, as env files write them", async () => {
    const server = await asServer("ES256", [genKey("ES256").replace(/\n/g, "\\n")]);
    try {
      expect((await jwksOf(server)).keys).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it.each([
    ["EdDSA is refused with the reason", { JWT_ALGORITHM: "EdDSA" }, /JWT_ALGORITHM: EdDSA is not available/],
    [
      "a key of the wrong type",
      { JWT_ALGORITHM: "ES256", JWT_PRIVATE_KEYS: "RSA" },
      /JWT_PRIVATE_KEYS: key 1 is not a P-256 EC key/,
    ],
    ["a short RSA key", { JWT_ALGORITHM: "RS256", JWT_PRIVATE_KEYS: "RSA1024" }, /at least 2048 bits/],
    [
      "no PEM at all",
      { JWT_ALGORITHM: "ES256", JWT_PRIVATE_KEYS: "not a key" },
      /JWT_PRIVATE_KEYS: no PEM private key/,
    ],
    ["production without keys", { JWT_ALGORITHM: "ES256", NODE_ENV: "production" }, /JWT_PRIVATE_KEYS: missing/],
  ])("refuses to start with %s", async (_name, env, message) => {
    const keys: Record<string, string> = {
      RSA: generateKeyPairSync("rsa", { modulusLength: 2048 })
        .privateKey.export({ format: "pem", type: "pkcs8" })
        .toString(),
      RSA1024: generateKeyPairSync("rsa", { modulusLength: 1024 })
        .privateKey.export({ format: "pem", type: "pkcs8" })
        .toString(),
    };
    const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, keys[v] ?? v]));
    const { code, output } = await runToExit(tempDir(), resolved);
    expect(code).not.toBe(0);
    expect(output).toMatch(message);
    expect(output).not.toMatch(/[A-Za-z0-9+/]{60,}/); // no key material echoed
  });

  it("gen-key refuses an unknown algorithm with a usage error", () => {
    expect(() => execFileSync(process.execPath, [OPERATOR, "gen-key", "HS256"], { stdio: "pipe" })).toThrow(
      /gen-key needs an algorithm/,
    );
  });
});

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { ConfigError, type DevelopmentKeys, loadConfig, loadOperatorConfig } from "../src/config";
import { runCli } from "./helpers/cli";
import { freshDatabaseUrl } from "./helpers/database";
import { me, refresh, register } from "./helpers/graphql";
import { runToExit, spawnServer, tempDir } from "./helpers/process";
import { startServer } from "./helpers/server";

const CONFIG = join(__dirname, "..", "dist", "src", "config.js");
const CHEAP = { ARGON2_MEMORY_KIB: "1024", ARGON2_TIME_COST: "1", AUTH_RATE_LIMIT_PER_MINUTE: "100000" };

/** Every file under `dir`, relative, sorted. */
const filesIn = (dir: string) => (readdirSync(dir, { recursive: true }) as string[]).sort();

/** Keys from memory, counting how often each is asked for. */
function keysInMemory() {
  const asked: string[] = [];
  const source: DevelopmentKeys = {
    secret: (name) => {
      asked.push(name);
      return { secret: Buffer.alloc(48, name.length), keptIn: `memory:${name}` };
    },
    privateKey: (algorithm) => {
      asked.push(algorithm);
      throw new Error("not in this test");
    },
  };
  return { source, asked };
}

describe("loading the configuration (BEHAVIOUR.md §1): a pure value, nothing written", () => {
  it("writes no file for an empty environment, in any mode, in the process's directory", () => {
    const cwd = tempDir();
    // The built module in a fresh directory, as any script that loads the configuration would.
    const output = execFileSync(
      process.execPath,
      [
        "-e",
        `const { loadConfig, loadOperatorConfig } = require(${JSON.stringify(CONFIG)});
         for (const env of [{}, { JWT_ALGORITHM: "ES256" }, { JWT_ALGORITHM: "RS256" }, { NODE_ENV: "production" }]) {
           try { loadConfig(env); console.log("loaded"); } catch (error) { console.log(error.message.split(";")[0]); }
         }
         console.log(loadOperatorConfig({}).database.kind);`,
      ],
      { cwd, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } },
    );
    expect(output.trim().split("\n")).toEqual([
      "JWT_SECRET: missing",
      "JWT_PRIVATE_KEYS: missing",
      "JWT_PRIVATE_KEYS: missing",
      "JWT_SECRET: missing",
      "sqlite",
    ]);
    expect(filesIn(cwd)).toEqual([]);
  });

  it("takes missing development keys from the source the server's start gives it, after validating the rest", () => {
    const { source, asked } = keysInMemory();
    const { config, warnings } = loadConfig({}, source);
    expect(asked).toEqual(["jwt-secret", "secret-keys"]);
    expect(config.jwt.keys.signing.key.export()).toEqual(Buffer.alloc(48, "jwt-secret".length));
    expect(warnings).toEqual([
      "JWT_SECRET is not set: using a generated development secret kept in memory:jwt-secret",
      "SECRET_KEYS is not set: using a generated development key kept in memory:secret-keys",
    ]);

    // An invalid variable stops the load before any key is asked for (nothing generated for a refused start).
    const refused = keysInMemory();
    expect(() => loadConfig({ PORT: "eighty" }, refused.source)).toThrow(/PORT/);
    expect(() => loadConfig({ REFRESH_TOKEN_TTL: "1" }, refused.source)).toThrow(/REFRESH_TOKEN_TTL/);
    expect(refused.asked).toEqual([]);

    // Production never generates.
    const production = keysInMemory();
    expect(() => loadConfig({ NODE_ENV: "production" }, production.source)).toThrow(ConfigError);
    expect(production.asked).toEqual([]);
  });

  it("gives the operator CLI only the database and the lifetimes: no key needed, in production either", () => {
    const config = loadOperatorConfig({ NODE_ENV: "production", DATABASE_URL: "postgres://u:p@db.example:5432/auth" });
    expect(config).toEqual({
      database: { kind: "postgres", url: "postgres://u:p@db.example:5432/auth" },
      refreshTokenTtl: 1_209_600,
      loginThrottle: { maxFailures: 5, windowSeconds: 900 },
    });
    expect(() => loadOperatorConfig({ DATABASE_URL: "mysql://x" })).toThrow(/DATABASE_URL/);
    expect(() => loadOperatorConfig({ REFRESH_TOKEN_TTL: "soon" })).toThrow(/REFRESH_TOKEN_TTL/);
    // What the server alone reads does not concern it.
    expect(loadOperatorConfig({ CORS_ORIGINS: "not a url", JWT_SECRET: "short" }).database.kind).toBe("sqlite");
  });
});

describe("the operator CLI with NODE_ENV=production and nothing but DATABASE_URL", () => {
  it("grants a role, lists users, ends sessions and prunes, writing nothing where it runs", async () => {
    const server = await startServer();
    try {
      const user = await register(server.url);
      const cwd = tempDir();
      const env = { NODE_ENV: "production", DATABASE_URL: server.databaseUrl };
      const run = (...args: string[]) => runCli(env, args, cwd);

      const granted = await run("grant-role", user.email, "ADMIN");
      expect(granted, granted.stderr).toMatchObject({ code: 0 });
      expect(granted.stdout).toMatch(/now has roles USER, ADMIN/);
      expect((await run("list-users")).stdout).toContain(user.email);
      expect((await run("revoke-sessions", user.email)).stdout).toMatch(/ended 1 session/);
      expect((await me(server.url, user.accessToken)).body.errors?.[0]?.extensions?.reason).toBe("REVOKED");
      const pruned = await run("prune");
      expect(pruned, pruned.stderr).toMatchObject({ code: 0 });
      expect(filesIn(cwd)).toEqual([]);
    } finally {
      await server.close();
    }
  });
});

describe("development keys at the server's start (outside production)", () => {
  it("creates ./data keys once, owner-only, and reuses them on the next start", async () => {
    const cwd = tempDir();
    const DATABASE_URL = await freshDatabaseUrl();
    const first = await spawnServer(cwd, { ...CHEAP, DATABASE_URL });
    const user = await register(first.url);
    // Besides the keys: the registration's verification mail, as an .eml file (MAIL_TRANSPORT=file, the
    // default here), written by the worker shortly after the answer (a stop before it would leave it queued).
    await vi.waitFor(() => expect(filesIn(join(cwd, "data")).some((f) => f.endsWith(".eml"))).toBe(true), {
      timeout: 10_000,
    });
    expect(await first.stop()).toBe(0);
    const files = filesIn(join(cwd, "data"));
    expect(files.filter((f) => !f.startsWith("mail"))).toEqual(
      ["auth.sqlite", "jwt-secret", "secret-keys"].filter((f) => DATABASE_URL.includes(cwd) || f !== "auth.sqlite"),
    );
    expect(files.filter((f) => f.startsWith("mail/"))).toEqual([expect.stringMatching(/^mail\/.+\.eml$/)]);
    for (const file of ["jwt-secret", "secret-keys"])
      expect(statSync(join(cwd, "data", file)).mode & 0o777).toBe(0o600);
    const kept = ["jwt-secret", "secret-keys"].map((f) => readFileSync(join(cwd, "data", f), "utf8"));

    const second = await spawnServer(cwd, { ...CHEAP, DATABASE_URL });
    try {
      // The same keys: the first server's access token (JWT_SECRET) and refresh token (SECRET_KEYS) still work.
      expect((await me(second.url, user.accessToken)).body.data?.me.id).toBe(user.user.id);
      expect((await refresh(second.url, user.refreshToken)).body.data?.refreshToken.user.id).toBe(user.user.id);
    } finally {
      expect(await second.stop()).toBe(0);
    }
    expect(["jwt-secret", "secret-keys"].map((f) => readFileSync(join(cwd, "data", f), "utf8"))).toEqual(kept);
  });

  it("creates nothing when the start is refused for an invalid variable", async () => {
    const cwd = tempDir();
    const { code, output } = await runToExit(cwd, { ...CHEAP, ACCESS_TOKEN_TTL: "-5" });
    expect(code).not.toBe(0);
    expect(output).toContain("ACCESS_TOKEN_TTL");
    expect(filesIn(cwd)).toEqual([]);
  });

  it("keeps a generated ES256 key too, so the JWKS is the same after a restart", async () => {
    const cwd = tempDir();
    const env = { ...CHEAP, JWT_ALGORITHM: "ES256", DATABASE_URL: await freshDatabaseUrl() };
    const kids: string[] = [];
    for (let start = 0; start < 2; start++) {
      const server = await spawnServer(cwd, env);
      try {
        const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
        kids.push(...jwks.keys.map((k) => k.kid));
      } finally {
        await server.stop();
      }
    }
    expect(kids).toHaveLength(2);
    expect(kids[1]).toBe(kids[0]);
    expect(filesIn(join(cwd, "data"))).toContain("jwt-private-key.ES256.pem");
  });
});

describe("mail settings (BEHAVIOUR.md §2, §7)", () => {
  const KEYS = { JWT_SECRET: "k".repeat(32), SECRET_KEYS: "ab".repeat(32) };
  const PRODUCTION = { ...KEYS, NODE_ENV: "production" };
  const SMTP = "smtp://mailer:p%40ss%3Aword@smtp.example.com:587";
  const mail = (env: Record<string, string>) => loadConfig({ ...KEYS, ...env }).config;
  const refusal = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error(`loaded: ${JSON.stringify(env)}`);
  };

  it("writes .eml files outside production by default, to the frontend of Vite's development server", () => {
    const config = mail({});
    expect(config.mail).toMatchObject({
      transport: "file",
      smtpUrl: null,
      from: "no-reply@localhost",
      productName: "Auth server",
      pollInterval: 5,
      fileDir: join(process.cwd(), "data", "mail"),
    });
    expect(config.mail.templatesDir).toBe(join(__dirname, "..", "templates", "mail"));
    expect(config.appUrl).toBe("http://localhost:5173");
  });

  it("sends through SMTP when SMTP_URL is set, and reads every MAIL_* setting", () => {
    const config = mail({
      SMTP_URL: SMTP,
      MAIL_FROM: "Acme <hello@acme.example>",
      APP_URL: "https://acme.example/app/",
      MAIL_PRODUCT_NAME: "Acme",
      MAIL_TEMPLATES_DIR: "./ops/mail",
      MAIL_POLL_INTERVAL: "0.5",
      MAIL_FILE_DIR: "/var/mail-out",
    });
    expect(config.mail).toEqual({
      transport: "smtp",
      smtpUrl: SMTP,
      from: "Acme <hello@acme.example>",
      productName: "Acme",
      templatesDir: join(process.cwd(), "ops", "mail"),
      pollInterval: 0.5,
      fileDir: "/var/mail-out",
    });
    // One form of the base URL, however it was written: links append "/path".
    expect(config.appUrl).toBe("https://acme.example/app");
    expect(mail({ APP_URL: "https://acme.example/" }).appUrl).toBe("https://acme.example");
    expect(mail({ APP_URL: "https://acme.example" }).appUrl).toBe("https://acme.example");
    expect(mail({ MAIL_FROM: "Acme <hello@acme.example>" }).mail.from).toBe("Acme <hello@acme.example>");
    expect(mail({ APP_URL: "https://app.acme.example" }).mail.from).toBe("no-reply@app.acme.example");
    expect(mail({ SMTP_URL: SMTP, MAIL_TRANSPORT: "none" }).mail).toMatchObject({ transport: "none", smtpUrl: null });
  });

  it("refuses production without SMTP_URL unless MAIL_TRANSPORT=none, and without APP_URL when mail is on", () => {
    expect(refusal(PRODUCTION)).toMatch(/^SMTP_URL: missing/);
    expect(refusal({ ...PRODUCTION, MAIL_TRANSPORT: "file" })).toMatch(/^MAIL_TRANSPORT: file is for development/);
    expect(refusal({ ...PRODUCTION, SMTP_URL: SMTP })).toMatch(/^APP_URL: missing/);
    const off = loadConfig({ ...PRODUCTION, MAIL_TRANSPORT: "none" }).config;
    expect(off.mail.transport).toBe("none");
    const on = loadConfig({ ...PRODUCTION, SMTP_URL: SMTP, APP_URL: "https://app.example.com" }).config;
    expect(on.mail.transport).toBe("smtp");
    expect(on.appUrl).toBe("https://app.example.com");
    // Keys are named first: they are what every production start needs.
    expect(refusal({ NODE_ENV: "production" })).toMatch(/^JWT_SECRET: missing/);
  });

  it.each([
    ["MAIL_TRANSPORT", { MAIL_TRANSPORT: "sendmail" }],
    ["SMTP_URL", { MAIL_TRANSPORT: "smtp" }],
    ["SMTP_URL", { SMTP_URL: "http://smtp.example.com" }],
    ["SMTP_URL", { SMTP_URL: "smtp://" }],
    ["SMTP_URL", { SMTP_URL: "smtp://user:pw@smtp.example.com:587/path" }],
    ["APP_URL", { APP_URL: "app.example.com" }],
    ["APP_URL", { APP_URL: "ftp://app.example.com" }],
    ["APP_URL", { APP_URL: "https://app.example.com/?next=1" }],
    ["APP_URL", { APP_URL: "https://app.example.com/#top" }],
    ["APP_URL", { APP_URL: "https://user:pw@app.example.com" }],
    ["MAIL_FROM", { MAIL_FROM: "no-reply" }],
    ["MAIL_FROM", { MAIL_FROM: "a@b.example\r\nBcc: c@d.example" }],
    ["MAIL_PRODUCT_NAME", { MAIL_PRODUCT_NAME: "Acme\nBcc: x" }],
    ["MAIL_PRODUCT_NAME", { MAIL_PRODUCT_NAME: "{{appUrl}}" }],
    ["MAIL_POLL_INTERVAL", { MAIL_POLL_INTERVAL: "0" }],
    ["MAIL_POLL_INTERVAL", { MAIL_POLL_INTERVAL: "soon" }],
  ])("refuses an invalid %s, naming it", (variable, env) => {
    expect(refusal({ ...KEYS, ...env })).toContain(variable);
  });

  it("never repeats SMTP_URL (it holds the password) in a refusal", () => {
    const message = refusal({ ...KEYS, SMTP_URL: "smtpz://mailer:hunter2-secret@smtp.example.com" });
    expect(message).toContain("SMTP_URL");
    expect(message).not.toContain("hunter2-secret");
  });
});

describe("passkey settings (BEHAVIOUR.md §2, §8)", () => {
  const KEYS = { JWT_SECRET: "k".repeat(32), SECRET_KEYS: "ab".repeat(32) };
  const load = (env: Record<string, string>) => loadConfig({ ...KEYS, ...env });
  const refusal = (env: Record<string, string>) => {
    try {
      load(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error(`loaded: ${JSON.stringify(env)}`);
  };

  it("takes the RP id and the one origin from APP_URL, and the name from MAIL_PRODUCT_NAME", () => {
    expect(load({}).config.webauthn).toEqual({
      rpId: "localhost",
      rpName: "Auth server",
      origins: ["http://localhost:5173"],
    });
    expect(load({ APP_URL: "https://app.acme.example/app/", MAIL_PRODUCT_NAME: "Acme" }).config.webauthn).toEqual({
      rpId: "app.acme.example",
      rpName: "Acme",
      origins: ["https://app.acme.example"],
    });
  });

  it("reads WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME and WEBAUTHN_ORIGINS: a parent domain serves every subdomain listed", () => {
    const { webauthn } = load({
      APP_URL: "https://app.acme.example",
      WEBAUTHN_RP_ID: "acme.example",
      WEBAUTHN_RP_NAME: "Acme accounts",
      WEBAUTHN_ORIGINS: "https://app.acme.example, https://acme.example:8443/, https://app.acme.example",
    }).config;
    expect(webauthn).toEqual({
      rpId: "acme.example",
      rpName: "Acme accounts",
      origins: ["https://app.acme.example", "https://acme.example:8443"],
    });
  });

  it("warns that browsers make no passkey for an IP address", () => {
    const { config, warnings } = load({ APP_URL: "http://127.0.0.1:5173" });
    expect(config.webauthn.rpId).toBe("127.0.0.1");
    expect(warnings.join("\n")).toMatch(/WEBAUTHN_RP_ID is the IP address 127\.0\.0\.1/);
  });

  it.each([
    // Not a parent of the origin's host: no browser would use it.
    [
      { APP_URL: "https://app.acme.example", WEBAUTHN_RP_ID: "other.example" },
      /WEBAUTHN_RP_ID: other\.example is neither/,
    ],
    [{ APP_URL: "https://acme.example", WEBAUTHN_RP_ID: "app.acme.example" }, /WEBAUTHN_RP_ID: app\.acme\.example/],
    // A suffix of the text but not a parent domain.
    [{ APP_URL: "https://evilacme.example", WEBAUTHN_RP_ID: "acme.example" }, /WEBAUTHN_RP_ID/],
    [{ WEBAUTHN_ORIGINS: "https://localhost.evil.example" }, /WEBAUTHN_RP_ID: localhost is neither/],
    [{ WEBAUTHN_RP_ID: "https://acme.example" }, /WEBAUTHN_RP_ID: must be a lower-case domain/],
    [{ WEBAUTHN_RP_ID: "acme.example:443" }, /WEBAUTHN_RP_ID/],
    [{ WEBAUTHN_RP_ID: "Acme.Example" }, /WEBAUTHN_RP_ID/],
    [{ WEBAUTHN_ORIGINS: "https://localhost/app" }, /WEBAUTHN_ORIGINS.*without a path/],
    [{ WEBAUTHN_ORIGINS: "ftp://localhost" }, /WEBAUTHN_ORIGINS/],
    [{ WEBAUTHN_ORIGINS: " , " }, /WEBAUTHN_ORIGINS/],
    [{ WEBAUTHN_RP_NAME: "Acme\nEvil" }, /WEBAUTHN_RP_NAME/],
  ])("refuses %j, naming the variable", (env, message) => {
    expect(refusal(env)).toMatch(message);
  });
});

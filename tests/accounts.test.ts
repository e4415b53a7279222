import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabaseUrl } from "./helpers/database";
import { errorCode, type GraphQLResponse, gql, LOGIN, me, newCredentials, REGISTER, register } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const reg = (email: string, password: string) => gql(server.url, REGISTER, { email, password });
const login = (email: string, password: string) => gql(server.url, LOGIN, { email, password });
const ok = (r: GraphQLResponse) => typeof (r.body.data?.register ?? r.body.data?.login)?.accessToken === "string";

function expectBadInput(r: GraphQLResponse, field: string, message?: RegExp) {
  expect(r.status).toBe(200);
  expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
  if (message) expect(r.body.errors?.[0]?.message).toMatch(message);
}

describe("register", () => {
  it("creates an account, signs it in and returns the whole AuthPayload", async () => {
    const { email, password } = newCredentials();
    const r = await reg(email, password);
    const payload = r.body.data?.register;
    expect(payload).toMatchObject({ tokenType: "Bearer", expiresIn: 900, user: { email, roles: ["USER"] } });
    expect(new Date(payload.refreshTokenExpiresAt).getTime()).toBeGreaterThan(Date.now());
    expect(new Date(payload.user.createdAt).toISOString()).toBe(payload.user.createdAt);
    expect((await me(server.url, payload.accessToken)).body.data?.me.email).toBe(email);
  });

  it("trims and lower-cases emails: one account per address, case-insensitively", async () => {
    const local = `Mixed.Case.${Date.now()}`;
    const first = await reg(`  ${local}@Example.COM `, "plum vessel thunder kite orbit");
    expect(first.body.data?.register.user.email).toBe(`${local.toLowerCase()}@example.com`);
    const again = await reg(`${local.toLowerCase()}@example.com`, "another long passphrase here");
    expect(again.body.errors?.[0]?.extensions).toMatchObject({ code: "EMAIL_TAKEN" });
    expect(ok(await login(`${local.toUpperCase()}@EXAMPLE.com`, "plum vessel thunder kite orbit"))).toBe(true);
  });

  it("gives 20 concurrent registrations of one email one account and 19 EMAIL_TAKEN", async () => {
    const { email, password } = newCredentials("race");
    const results = await Promise.all(Array.from({ length: 20 }, () => reg(email, password)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.filter(ok)).toHaveLength(1);
    expect(results.filter((r) => errorCode(r) === "EMAIL_TAKEN")).toHaveLength(19);
    const rows = await server.sql("select id from users where email = ?", [email]);
    expect(rows).toHaveLength(1);
    expect(ok(await login(email, password))).toBe(true);
  });

  it.each([
    ["no @", "not-an-email"],
    ["two @", "a@b@example.com"],
    ["no dotted domain", "alice@localhost"],
    ["full-width ＠ (U+FF20) look-alike", "bob＠example.com"],
    ["a space inside", "bo b@example.com"],
    ["255 characters", `${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}`],
  ])("refuses a malformed email (%s) with BAD_USER_INPUT on email", async (_name, email) => {
    const r = await reg(email, "plum vessel thunder kite orbit");
    expectBadInput(r, "email");
    expect(r.text).not.toContain("plum vessel");
  });

  it("accepts a 254-character email", async () => {
    const email = `${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
    expect(email).toHaveLength(254);
    expect(ok(await reg(email, "plum vessel thunder kite orbit"))).toBe(true);
  });
});

describe("password policy", () => {
  const email = () => newCredentials("policy").email;

  it("counts length in code points: 15 accepted, 14 refused, an emoji counts once", async () => {
    expectBadInput(await reg(email(), "fourteen chars"), "password", /at least 15/);
    expect(ok(await reg(email(), "fifteen chars!!"))).toBe(true);
    // Five different emoji (a single repeated one is refused as repetitive, NIST's "aaaaaa").
    const emoji = "😀🎉🚀🌈🔥".repeat(3);
    expect(emoji.length).toBe(30); // UTF-16 units: the JS pitfall
    expect(ok(await reg(email(), emoji))).toBe(true);
    expectBadInput(await reg(email(), [...emoji].slice(0, 14).join("")), "password", /at least 15/);
  });

  it("accepts 64 and 256 characters, refuses 257 and a huge password without hashing it", async () => {
    for (const length of [64, 256]) {
      const creds = { email: email(), password: `${`${"long passphrase ".repeat(20)}`.slice(0, length - 3)}xyz` };
      expect(ok(await reg(creds.email, creds.password))).toBe(true);
      expect(ok(await login(creds.email, creds.password))).toBe(true);
    }
    expectBadInput(await reg(email(), "x y z ".repeat(43).slice(0, 257)), "password", /at most 256/);
    const huge = await reg(email(), "a".repeat(60_000));
    expect(huge.status).toBeLessThan(500);
    expect(huge.body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(huge.text).not.toContain("aaaaaaaaaa");
  });

  it("has no composition rules: lowercase words and spaces are fine", async () => {
    expect(ok(await reg(email(), "plum vessel thunder kite orbit"))).toBe(true);
  });

  it.each([
    "passwordpassword",
    "PasswordPassword",
    "123456789012345",
    "qwertyuiopasdfgh",
    "abcabcabcabcabcabc",
    "1234567887654321",
    "😀".repeat(15),
    "a".repeat(20),
  ])("refuses the common or patterned password %s and says why", async (password) => {
    expectBadInput(await reg(email(), password), "password", /too common|repetition or sequence/);
  });

  it("refuses the email itself or its local part as the password", async () => {
    const address = `longlocalpart.${Date.now()}@example.com`;
    expectBadInput(await reg(address, address), "password", /email/);
    expectBadInput(await reg(address, address.split("@")[0]!), "password", /email/);
    expectBadInput(await reg(address, address.toUpperCase()), "password", /email/);
  });

  it("normalises with NFKC: é as one code point and as e + U+0301 are the same password", async () => {
    const creds = newCredentials("nfkc");
    expect(ok(await reg(creds.email, "caf\u00e9 au lait du matin"))).toBe(true);
    expect(ok(await login(creds.email, "cafe\u0301 au lait du matin"))).toBe(true);
  });

  it("never trims or case-folds, and verifies every character", async () => {
    const creds = newCredentials("exact");
    const password = "Exact Match Passphrase 2026 with more characters to pass seventy-two bytes of bcrypt!";
    expect(ok(await reg(creds.email, password))).toBe(true);
    for (const wrong of [
      ` ${password}`,
      `${password} `,
      password.toLowerCase(),
      password.slice(0, 72),
      password.slice(0, -1),
      "Exact",
    ]) {
      expect(errorCode(await login(creds.email, wrong))).toBe("INVALID_CREDENTIALS");
    }
    expect(ok(await login(creds.email, password))).toBe(true);
  });

  it("refuses a NUL in a password instead of storing or cutting at it (v2, §4)", async () => {
    const creds = newCredentials("nul");
    const r = await reg(creds.email, "Exact\u0000Match Passphrase 2026 with more characters");
    expect(r.status).toBe(400); // refused before execution: nothing ran
    expect(r.body.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT", field: "password" });
    expect(await server.sql("select id from users where email = ?", [creds.email])).toHaveLength(0);
  });

  it("round-trips CJK and emoji passwords", async () => {
    const creds = newCredentials("unicode");
    const password = "密码是一个很长的短语🔐🔑 ünïcödé";
    expect(ok(await reg(creds.email, password))).toBe(true);
    expect(ok(await login(creds.email, password))).toBe(true);
  });

  it("refuses a password without creating the account", async () => {
    const address = email();
    await reg(address, "too short");
    expect(await server.sql("select id from users where email = ?", [address])).toHaveLength(0);
  });
});

describe("login", () => {
  it("answers an unknown email and a wrong password identically", async () => {
    const user = await register(server.url);
    const strip = (r: GraphQLResponse) => ({
      status: r.status,
      errors: r.body.errors?.map(({ message, extensions }) => ({ message, extensions })),
      data: r.body.data,
    });
    const unknown = await login(`nobody.${Date.now()}@example.com`, user.password);
    const wrong = await login(user.email, "not the right password at all");
    const malformed = await login("not an email", user.password);
    expect(strip(unknown)).toEqual(strip(wrong));
    expect(strip(malformed)).toEqual(strip(wrong));
    expect(strip(wrong)).toEqual({
      status: 200,
      errors: [{ message: "Invalid email or password", extensions: { code: "INVALID_CREDENTIALS" } }],
      data: null,
    });
  });

  it("starts a new session with each login (disjoint token families)", async () => {
    const user = await register(server.url);
    const a = (await login(user.email, user.password)).body.data!.login;
    const b = (await login(user.email, user.password)).body.data!.login;
    const sid = (t: string) => JSON.parse(Buffer.from(t.split(".")[1]!, "base64url").toString()).sid;
    expect(new Set([sid(user.accessToken), sid(a.accessToken), sid(b.accessToken)]).size).toBe(3);
  });

  it("never echoes the password in any error", async () => {
    const canary = "CANARY-PW-7f3c-not-a-real-password";
    const responses = [
      await login("x@example.com", canary),
      await reg("not-an-email", canary),
      await gql(server.url, "mutation($i: LoginInput!) { login(input: $i) { accessToken } }", {
        i: { email: 5, password: canary },
      }),
      await gql(server.url, "mutation($i: LoginInput!) { login(input: $i) { accessToken } }", {
        i: { email: "x@example.com", password: canary, extra: 1 },
      }),
      await gql(server.url, "mutation($p: String!) { login(input: { email: 1, password: $p }) { accessToken } }", {
        p: canary,
      }),
    ];
    for (const r of responses) {
      expect(r.body.errors?.length).toBeGreaterThan(0);
      expect(r.status).toBeLessThan(500);
      expect(r.text).not.toContain("CANARY");
      expect(r.text).not.toMatch(/"target"|"value"/);
    }
    expect(server.logs.join("\n")).not.toContain("CANARY");
  });
});

describe("hashing at rest", () => {
  it("stores argon2id PHC strings with unique salts, and re-hashes at login when the cost changes", async () => {
    const dbPath = await freshDatabaseUrl();
    const cheap = await startServer({ ARGON2_MEMORY_KIB: "1024" }, dbPath);
    const a = newCredentials("rehash");
    const b = newCredentials("rehash");
    await register(cheap.url, a);
    await register(cheap.url, { email: b.email, password: a.password });
    const hashes = await cheap.sql<{ email: string; password_hash: string }>("select email, password_hash from users");
    await cheap.close();
    const hashOf = (rows: typeof hashes, email: string) => rows.find((r) => r.email === email)!.password_hash;
    const params = (hash: string) =>
      Object.fromEntries(
        hash
          .split("$")[3]!
          .split(",")
          .map((kv) => kv.split("=")),
      );
    expect(hashOf(hashes, a.email)).toMatch(/^\$argon2id\$v=19\$/);
    expect(params(hashOf(hashes, a.email))).toEqual({ m: "1024", t: "1", p: "1" });
    expect(hashOf(hashes, a.email)).not.toBe(hashOf(hashes, b.email));
    expect(hashOf(hashes, a.email).split("$")[4]).not.toBe(hashOf(hashes, b.email).split("$")[4]);
    expect(Buffer.from(hashOf(hashes, a.email).split("$")[4]!, "base64").length).toBeGreaterThanOrEqual(16);

    const stronger = await startServer({ ARGON2_MEMORY_KIB: "2048" }, dbPath);
    try {
      expect(ok(await gql(stronger.url, LOGIN, a))).toBe(true);
      const after = await stronger.sql<{ email: string; password_hash: string }>(
        "select email, password_hash from users",
      );
      expect(params(hashOf(after, a.email))).toEqual({ m: "2048", t: "1", p: "1" });
      expect(params(hashOf(after, b.email)).m).toBe("1024"); // untouched until that user signs in
      expect(ok(await gql(stronger.url, LOGIN, a))).toBe(true);
    } finally {
      await stronger.close();
    }
  });
});

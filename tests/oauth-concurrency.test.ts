import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_DATABASE } from "./helpers/database";
import { errorCode, type GraphQLResponse, gql, newCredentials, REGISTER } from "./helpers/graphql";
import {
  type Callback,
  finishOAuth,
  LINKED_ACCOUNTS,
  linkOAuth,
  type Providers,
  providerCallback,
  startProviders,
  UNLINK_OAUTH,
} from "./helpers/oauth";
import { startServer, type TestServer } from "./helpers/server";

// BEHAVIOUR.md §9 under concurrency: a state is spent once however many
// finishes carry it, one identity becomes one account however many first
// sign-ins race (or a registration of its email), and two unlinks never take
// a user's last way to sign in. On PostgreSQL across instances sharing the
// database and a clock; on SQLite one instance (its writers take turns anyway).

/** Servers sharing one database: three instances on PostgreSQL; on SQLite one. */
let servers: TestServer[];
let providers: Providers;
beforeAll(async () => {
  providers = await startProviders();
  const first = await startServer(providers.env);
  servers = [first];
  if (TEST_DATABASE === "postgres") {
    for (let i = 0; i < 2; i++) servers.push(await startServer(providers.env, first.databaseUrl, first.clock));
  }
});
afterAll(async () => {
  for (const s of servers ?? []) await s.close();
  await providers?.stop();
});

const ROUNDS = 10;
const AT_ONCE = 6;
/**
 * Before the lock-order fix in OAuthAccounts.resolve, this race deadlocked on PostgreSQL in a few
 * rounds of a hundred (a sign-in through the just-created link against a request that had found
 * no link yet and then the account): more rounds than the others.
 */
const FIRST_SIGN_IN_ROUNDS = 30;
const at = (i: number) => servers[i % servers.length] as TestServer;

let people = 0;
/** A new person at the OpenID provider, whose address the provider says is verified. */
function oidcPerson() {
  people += 1;
  const { email } = newCredentials("oidc");
  const sub = `race-${process.pid}-${people}-${Date.now()}`;
  providers.op.users.set(sub, { sub, email, email_verified: true, name: `Racer ${people}` });
  return { sub, email };
}

/** "OK" for an answer with data, else its error code; never a 5xx either way. */
function outcome(r: GraphQLResponse, field: string): string {
  expect(r.status).toBe(200);
  return r.body.data?.[field] ? "OK" : String(errorCode(r));
}

async function count(query: string, params: unknown[]): Promise<number> {
  const [row] = await at(0).sql<{ n: number | string }>(query, params);
  return Number(row?.n);
}

describe(`concurrent provider sign-ins (${TEST_DATABASE}, ${TEST_DATABASE === "postgres" ? "3 instances" : "1 instance"})`, () => {
  it("one state finished many times at once: exactly one sign-in, one code exchange, INVALID_TOKEN for the rest", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const { sub } = oidcPerson();
      const callback = await providerCallback(at(round).url, providers, sub);
      const exchangesBefore = providers.op.tokenRequests();
      const results = await Promise.all(
        Array.from({ length: AT_ONCE }, (_, i) => finishOAuth(at(round + i).url, callback)),
      );
      const outcomes = results.map((r) => outcome(r, "finishOAuthSignIn"));
      expect(outcomes.filter((o) => o === "OK")).toHaveLength(1);
      expect(outcomes.filter((o) => o !== "OK")).toEqual(Array(AT_ONCE - 1).fill("INVALID_TOKEN"));
      // The state is spent before the code is exchanged: the losers never reached the provider.
      expect(providers.op.tokenRequests() - exchangesBefore).toBe(1);
      const winner = results.find((r) => r.body.data?.finishOAuthSignIn)?.body.data?.finishOAuthSignIn;
      expect(await count("select count(*) as n from sessions where user_id = ?", [winner?.user.id])).toBe(1);
    }
  });

  it("the first sign-ins of one new identity, raced through separate flows: one account, one link, all signed in", async () => {
    for (let round = 0; round < FIRST_SIGN_IN_ROUNDS; round++) {
      const { sub, email } = oidcPerson();
      const callbacks: Callback[] = await Promise.all(
        Array.from({ length: AT_ONCE }, (_, i) => providerCallback(at(round + i).url, providers, sub)),
      );
      const results = await Promise.all(callbacks.map((c, i) => finishOAuth(at(round + i + 1).url, c)));
      expect(results.map((r) => outcome(r, "finishOAuthSignIn"))).toEqual(Array(callbacks.length).fill("OK"));
      const ids = new Set(results.map((r) => r.body.data?.finishOAuthSignIn.user.id));
      expect(ids.size).toBe(1);
      const [userId] = ids;
      expect(results.every((r) => r.body.data?.finishOAuthSignIn.user.email === email)).toBe(true);

      expect(await count("select count(*) as n from users where email = ?", [email])).toBe(1);
      expect(
        await count("select count(*) as n from linked_accounts where provider = ? and subject = ?", ["acme", sub]),
      ).toBe(1);
      expect(await count("select count(*) as n from linked_accounts where user_id = ?", [userId])).toBe(1);
      expect(await count("select count(*) as n from sessions where user_id = ?", [userId])).toBe(callbacks.length);
    }
  });

  it("a first provider sign-in racing a registration of its email: one account, and each side's answer fits who won", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const { sub, email } = oidcPerson();
      const callback = await providerCallback(at(round).url, providers, sub);
      // Register starts 0 to 18 ms after the finish (which first exchanges the code): both win some rounds.
      const [registered, signedIn] = await Promise.all([
        sleep(round * 2).then(() => gql(at(round).url, REGISTER, { email, password: "correct horse battery staple" })),
        finishOAuth(at(round + 1).url, callback),
      ]);
      const byRegister = outcome(registered, "register");
      const byProvider = outcome(signedIn, "finishOAuthSignIn");

      expect(await count("select count(*) as n from users where email = ?", [email])).toBe(1);
      const links = await count("select count(*) as n from linked_accounts where provider = ? and subject = ?", [
        "acme",
        sub,
      ]);
      const withPassword = await count(
        "select count(*) as n from users where email = ? and password_hash is not null",
        [email],
      );
      if (byRegister === "OK") {
        // The new account's address is not verified yet: the provider may not take it over.
        expect(byProvider).toBe("ACCOUNT_EXISTS");
        expect([links, withPassword]).toEqual([0, 1]);
      } else {
        expect([byRegister, byProvider]).toEqual(["EMAIL_TAKEN", "OK"]);
        expect([links, withPassword]).toEqual([1, 0]);
      }
    }
  });

  it("both links of a password-less user unlinked at once: exactly one goes, the other is refused as the last way in", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const { sub, email } = oidcPerson();
      const signedIn = await finishOAuth(at(round).url, await providerCallback(at(round).url, providers, sub));
      const session = signedIn.body.data?.finishOAuthSignIn;
      if (!session) throw new Error(`provider sign-in failed: ${signedIn.text}`);
      const token = session.accessToken;

      const githubId = 500_000 + people;
      providers.github.users.set(githubId, {
        id: githubId,
        login: `racer-${githubId}`,
        emails: [{ email, primary: true, verified: true }],
      });
      // The flow is started as the user: the server links only flows their own user started.
      const linkCallback = await providerCallback(at(round + 1).url, providers, githubId, token);
      const linked = await linkOAuth(at(round + 2).url, token, linkCallback);
      expect(outcome(linked, "linkOAuthAccount")).toBe("OK");

      const before = await gql<{ linkedAccounts: { id: string; provider: string }[] }>(
        at(round).url,
        LINKED_ACCOUNTS,
        {},
        { token },
      );
      const links = before.body.data?.linkedAccounts ?? [];
      expect(links.map((l) => l.provider).sort()).toEqual(["acme", "github"]);

      const results = await Promise.all(
        links.map((link, i) => gql(at(round + i).url, UNLINK_OAUTH, { id: link.id }, { token })),
      );
      const outcomes = results.map((r) => outcome(r, "unlinkOAuthAccount"));
      expect([...outcomes].sort()).toEqual(["BAD_USER_INPUT", "OK"]);

      const after = await gql<{ linkedAccounts: { id: string }[] }>(at(round + 1).url, LINKED_ACCOUNTS, {}, { token });
      const kept = links[outcomes.indexOf("BAD_USER_INPUT")];
      expect(after.body.data?.linkedAccounts.map((l) => l.id)).toEqual([kept?.id]);
      expect(await count("select count(*) as n from linked_accounts where user_id = ?", [session.user.id])).toBe(1);
    }
  });
});

import { afterAll, describe, expect, it } from "vitest";
import { errorCode, gql, LOGIN, newCredentials, REGISTER, type Tokens } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";

// Every test request comes from 127.0.0.1. What a server took as the client's
// address shows in the `ip` of the session that request started.

const servers: TestServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.close())));

async function serverWith(trustProxy: string | null): Promise<TestServer> {
  const server = await startServer(trustProxy === null ? {} : { TRUST_PROXY: trustProxy });
  servers.push(server);
  return server;
}

/** Registers with this X-Forwarded-For header and returns the address the new session recorded. */
async function addressTaken(server: TestServer, forwardedFor?: string): Promise<string | null> {
  const headers: Record<string, string> = forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor };
  const registered = await gql<{ register: Tokens }>(server.url, REGISTER, newCredentials(), { headers });
  if (!registered.body.data?.register) throw new Error(registered.text);
  const token = registered.body.data.register.accessToken;
  const r = await gql(server.url, "{ sessions { ip current } }", {}, { token });
  return r.body.data?.sessions.find((s: { current: boolean }) => s.current).ip;
}

const CHAIN = "198.51.100.4, 10.0.0.1, 203.0.113.9";

describe("TRUST_PROXY: which X-Forwarded-For hops are believed (BEHAVIOUR.md §2)", () => {
  it("false (the default): the header is ignored, the address is the socket's peer", async () => {
    for (const server of [await serverWith(null), await serverWith("false")]) {
      expect(await addressTaken(server, "203.0.113.9")).toBe("127.0.0.1");
      expect(await addressTaken(server, CHAIN)).toBe("127.0.0.1");
    }
  });

  it("a hop count n believes the n nearest hops, whatever their address", async () => {
    const one = await serverWith("1");
    expect(await addressTaken(one, CHAIN)).toBe("203.0.113.9");
    expect(await addressTaken(one)).toBe("127.0.0.1");
    const two = await serverWith("2");
    expect(await addressTaken(two, CHAIN)).toBe("10.0.0.1");
    const many = await serverWith("10");
    expect(await addressTaken(many, CHAIN)).toBe("198.51.100.4");
  });

  it("a list believes exactly the proxies it names (addresses or CIDRs)", async () => {
    const loopback = await serverWith("127.0.0.1");
    expect(await addressTaken(loopback, CHAIN)).toBe("203.0.113.9"); // 203.0.113.9 is not a listed proxy
    const withCidr = await serverWith("127.0.0.1, 203.0.113.0/24");
    expect(await addressTaken(withCidr, CHAIN)).toBe("10.0.0.1");
    const all = await serverWith("127.0.0.0/8,203.0.113.0/24,10.0.0.0/8");
    expect(await addressTaken(all, CHAIN)).toBe("198.51.100.4");
    // The peer 127.0.0.1 is not on this list: the header is not believed at all.
    const elsewhere = await serverWith("10.0.0.0/8, 203.0.113.9");
    expect(await addressTaken(elsewhere, CHAIN)).toBe("127.0.0.1");
  });

  it("true believes loopback and private-range proxies only, never a public address's header", async () => {
    const server = await serverWith("true");
    expect(await addressTaken(server, "203.0.113.9")).toBe("203.0.113.9"); // the loopback peer is a proxy
    // 10.0.0.1 (private) is a proxy too; 203.0.113.9 (public) is the client, whatever it wrote before.
    expect(await addressTaken(server, CHAIN)).toBe("203.0.113.9");
    expect(await addressTaken(server, "198.51.100.4, 192.168.1.2, 172.16.0.3, 10.1.2.3")).toBe("198.51.100.4");
    expect(await addressTaken(server, "2001:db8::1, fd00::7")).toBe("2001:db8::1");
    // 172.32.0.1 is outside 172.16/12: public, so the client.
    expect(await addressTaken(server, "198.51.100.4, 172.32.0.1")).toBe("172.32.0.1");
  });
});

describe("forwarded entries that are not IP addresses are ignored", () => {
  it("never stores them: a 100-character X-Forwarded-For is not a 500, and the address is the nearest real one", async () => {
    for (const setting of ["true", "1", "5", "127.0.0.1"]) {
      const server = await serverWith(setting);
      expect(await addressTaken(server, "x".repeat(100))).toBe("127.0.0.1");
      expect(await addressTaken(server, `${"a".repeat(100)}, 203.0.113.5`)).toBe("203.0.113.5");
      expect(await addressTaken(server, `203.0.113.5, ${"9".repeat(100)}`)).toBe("127.0.0.1");
      for (const notAnAddress of [
        "203.0.113.5:443",
        "[2001:db8::1]:443",
        `fe80::1%${"eth".repeat(30)}`,
        "unknown",
        "203.0.113.256",
        "",
      ]) {
        expect(await addressTaken(server, notAnAddress), `${setting}: ${notAnAddress}`).toBe("127.0.0.1");
      }
      // The longest text form of an address (45 characters) is kept whole.
      const longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
      expect(await addressTaken(server, longest)).toBe(longest);
      // Nor is it logged: the request log line is written with the address that was taken.
      expect(server.logs.join("\n")).not.toMatch(/x{100}|a{100}|9{100}|eth(eth){29}/);
    }
  });

  it("records a failed login from the longest address, or from a non-address, without an error", async () => {
    const server = await serverWith("true");
    const registered = await gql<{ register: Tokens }>(server.url, REGISTER, newCredentials());
    const email = registered.body.data?.register.user.email;
    for (const forwardedFor of ["ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "z".repeat(100)]) {
      const r = await gql(
        server.url,
        LOGIN,
        { email, password: "not the password at all" },
        { headers: { "x-forwarded-for": forwardedFor } },
      );
      expect(errorCode(r)).toBe("INVALID_CREDENTIALS");
    }
  });
});

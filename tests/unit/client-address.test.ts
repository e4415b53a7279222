import { describe, expect, it } from "vitest";
import { ConfigError, LOCAL_PROXY_RANGES, loadConfig } from "../../src/config";
import { isForwardedAddress, keepForwardedAddresses, proxyTrust } from "../../src/http/client-address";
import { TEST_ENV } from "../helpers/server";

// The parts of TRUST_PROXY the real-server tests cannot reach: their peer is always 127.0.0.1.

describe("TRUST_PROXY=true: loopback and private ranges, never the internet", () => {
  const trust = proxyTrust(LOCAL_PROXY_RANGES);
  if (trust === false) throw new Error("a list is a trust function");

  it.each([
    "127.0.0.1",
    "127.255.0.9",
    "::1",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:10.0.0.1", // an IPv4 peer as a dual-stack socket reports it
  ])("believes a proxy at %s", (address) => {
    expect(trust(address, 0)).toBe(true);
  });

  it.each([
    "203.0.113.9",
    "8.8.8.8",
    "172.32.0.1",
    "192.169.0.1",
    "2001:db8::1",
    "::ffff:203.0.113.9",
    "169.254.169.254", // link-local: not on the list
    "fe80::1",
    "100.64.0.1", // carrier-grade NAT: not on the list
    "localhost",
    "",
  ])("does not believe %s, at any hop", (address) => {
    expect(trust(address, 0)).toBe(false);
    expect(trust(address, 3)).toBe(false);
  });

  it("is what `true` parses to, and a hop count is a count", () => {
    const load = (value: string) => loadConfig({ ...TEST_ENV, TRUST_PROXY: value }).config.trustProxy;
    expect(load("true")).toEqual(LOCAL_PROXY_RANGES);
    expect(load("false")).toBe(false);
    expect(load("0")).toBe(false);
    expect(load("2")).toBe(2);
    expect(load("10.0.0.0/8, 2001:db8::/32,192.0.2.1")).toEqual(["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]);
  });

  it.each(["999.1.1.1", "10.0.0.0/33", "::1/129", "10.0.0.0/8/8", "abc", "1.2.3.4/"])(
    "refuses to start with TRUST_PROXY=%s, naming the variable",
    (value) => {
      expect(() => loadConfig({ ...TEST_ENV, TRUST_PROXY: value })).toThrow(ConfigError);
      expect(() => loadConfig({ ...TEST_ENV, TRUST_PROXY: value })).toThrow(/TRUST_PROXY/);
    },
  );
});

describe("X-Forwarded-For entries that are not addresses", () => {
  it.each([
    ["203.0.113.9", "203.0.113.9"],
    ["198.51.100.4, 10.0.0.1", "198.51.100.4, 10.0.0.1"],
    [`${"x".repeat(100)}, 203.0.113.9`, "203.0.113.9"],
    [`203.0.113.9, ${"x".repeat(100)}`, ""],
    ["198.51.100.4, junk, 10.0.0.1", "10.0.0.1"],
    ["203.0.113.9:443", ""],
    ["fe80::1%eth0", ""],
    [" 2001:db8::1 ,  10.0.0.1 ", "2001:db8::1, 10.0.0.1"],
  ])("%j keeps %j", (header, kept) => {
    expect(keepForwardedAddresses(header)).toBe(kept);
  });

  it("accepts addresses up to 45 characters, the longest text form, so 64-character columns hold them", () => {
    expect(isForwardedAddress("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")).toBe(true);
    expect(isForwardedAddress("0000:0000:0000:0000:0000:ffff:255.255.255.255")).toBe(true);
    // Node's isIP accepts a zone of any length; a forwarded address never has one.
    expect(isForwardedAddress(`fe80::1%${"x".repeat(100)}`)).toBe(false);
  });
});

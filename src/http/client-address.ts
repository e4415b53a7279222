import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config";

/**
 * The longest text form of an IP address (an IPv4-mapped IPv6 address,
 * `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`): 45 characters, so the
 * 64-character `ip` columns (sessions, login_attempts) hold any address this
 * module lets through.
 */
export const MAX_ADDRESS_LENGTH = 45;

type TrustProxy = Config["trustProxy"];

/**
 * The trust function Fastify (proxy-addr) asks, hop by hop from the socket's
 * peer (hop 0) outwards: "may this address tell me who is behind it?".
 * - a hop count n believes the n nearest hops, whoever they are;
 * - a list believes exactly the proxies whose address is in it (`true` is
 *   parsed into the loopback and private ranges by config.ts), so a client
 *   on the internet that writes X-Forwarded-For is not believed.
 * `false` is passed to Fastify as is: request.ip is the socket's peer.
 */
export function proxyTrust(setting: TrustProxy): false | ((address: string, hop: number) => boolean) {
  if (setting === false) return false;
  if (typeof setting === "number") return (_address, hop) => hop < setting;
  const proxies = new BlockList();
  for (const entry of setting) {
    const [address = "", prefix] = entry.split("/");
    const family = isIP(address) === 4 ? "ipv4" : "ipv6";
    if (prefix === undefined) proxies.addAddress(address, family);
    else proxies.addSubnet(address, Number(prefix), family);
  }
  // BlockList matches an IPv4-mapped IPv6 peer (::ffff:10.0.0.1) against IPv4 ranges too.
  return (address) => {
    const family = isIP(address);
    return family !== 0 && proxies.check(address, family === 4 ? "ipv4" : "ipv6");
  };
}

/**
 * An address a proxy may hand us: a bare IPv4 or IPv6 address, no port, no
 * zone (`fe80::1%eth0` names an interface of the proxy's host, and its zone
 * can be any length).
 */
export function isForwardedAddress(value: string): boolean {
  return value.length <= MAX_ADDRESS_LENGTH && !value.includes("%") && isIP(value) !== 0;
}

/**
 * X-Forwarded-For is read right to left: each proxy appends the peer it saw.
 * An entry that is not an IP address cannot be attributed to anyone, so it
 * and everything written before it (to its left) are dropped; the client is
 * then the nearest address the chain vouches for. Without this, a client
 * behind a trusted proxy chooses its "address" freely (any text of any
 * length: a 100-character one overflowed the 64-character `ip` column on
 * PostgreSQL and became a 500).
 */
export function keepForwardedAddresses(header: string): string {
  const entries = header.split(",").map((entry) => entry.trim());
  let from = entries.length;
  while (from > 0 && isForwardedAddress(entries[from - 1] ?? "")) from -= 1;
  return entries.slice(from).join(", ");
}

/**
 * Configures who may set the client address: Fastify's `trustProxy` option
 * (see `proxyTrust`), and the non-addresses cut out of X-Forwarded-For before
 * Fastify sees the request, so everything that reads `request.ip` gets an IP
 * address (throttling, sessions, rate limits, and the request log line).
 */
export function registerClientAddress(app: FastifyInstance, setting: TrustProxy): void {
  if (setting === false) return; // the header is never read
  app.server.prependListener("request", (request: IncomingMessage) => {
    const header = request.headers["x-forwarded-for"];
    if (typeof header !== "string") return;
    const kept = keepForwardedAddresses(header);
    if (kept === "") delete request.headers["x-forwarded-for"];
    else request.headers["x-forwarded-for"] = kept;
  });
}

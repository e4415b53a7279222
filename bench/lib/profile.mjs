import { copyFileSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Self time of a V8 .cpuprofile grouped by where the code lives (a package
 * under node_modules, node's internals, or this project's files), the
 * heaviest functions, and the inclusive time of this project's own functions
 * (what each step of a request costs with everything it calls).
 */
export function summariseProfile(dir, top = 25, own = "/dist/src/") {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  // BENCH_PROFILE_OUT=path keeps the raw profile (for Chrome DevTools or speedscope).
  if (process.env.BENCH_PROFILE_OUT) copyFileSync(join(dir, file), process.env.BENCH_PROFILE_OUT);
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8"));
  // Shares of busy time: idle samples say nothing about where the work goes.
  const total = profile.nodes.reduce((sum, n) => sum + (n.callFrame.functionName === "(idle)" ? 0 : n.hitCount), 0);
  const byPlace = new Map();
  const byFunction = new Map();
  const inclusive = new Map();
  const parentOf = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const nameOf = ({ callFrame }) =>
    `${callFrame.functionName || "(anonymous)"} ${placeOf(callFrame.url, callFrame.functionName)}:${callFrame.lineNumber + 1}`;
  for (const node of profile.nodes) {
    const { callFrame, hitCount } = node;
    if (hitCount === 0 || callFrame.functionName === "(idle)") continue;
    const place = placeOf(callFrame.url, callFrame.functionName);
    byPlace.set(place, (byPlace.get(place) ?? 0) + hitCount);
    const fn = nameOf(node);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hitCount);
    // Each sample counts once for every distinct own function on its stack (recursion included once).
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parentOf.get(id)) {
      const frame = byId.get(id);
      if (!frame.callFrame.url.includes(own)) continue;
      const name = nameOf(frame);
      seen.add(name);
    }
    for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + hitCount);
  }
  const table = (map) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => `${((100 * hits) / total).toFixed(1).padStart(5)} %  ${name}`)
      .join("\n");
  const samples = profile.nodes.reduce((sum, n) => sum + n.hitCount, 0);
  return [
    `main thread busy ${((100 * total) / samples).toFixed(0)} % of the profiled time (the rest idle, waiting for I/O or timers)`,
    `self time by place (share of busy time):\n${table(byPlace)}`,
    `heaviest functions (self time):\n${table(byFunction)}`,
    `this project's functions (inclusive time):\n${table(inclusive)}`,
  ].join("\n\n");
}

function placeOf(url, functionName) {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith("node:")) return "node internals";
  return url.replace(/^file:\/\//, "").replace(/^.*\/dist\//, "dist/");
}

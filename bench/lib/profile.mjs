import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Self time of a V8 .cpuprofile grouped by where the code lives (a package
 * under node_modules, node's internals, or this project's files), and the
 * heaviest functions: enough to see what a request spends its time on.
 */
export function summariseProfile(dir, top = 25) {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8"));
  // Shares of busy time: idle samples say nothing about where the work goes.
  const total = profile.nodes.reduce((sum, n) => sum + (n.callFrame.functionName === "(idle)" ? 0 : n.hitCount), 0);
  const byPlace = new Map();
  const byFunction = new Map();
  for (const { callFrame, hitCount } of profile.nodes) {
    if (hitCount === 0 || callFrame.functionName === "(idle)") continue;
    const place = placeOf(callFrame.url, callFrame.functionName);
    byPlace.set(place, (byPlace.get(place) ?? 0) + hitCount);
    const fn = `${callFrame.functionName || "(anonymous)"} ${place}:${callFrame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hitCount);
  }
  const table = (map) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => `${((100 * hits) / total).toFixed(1).padStart(5)} %  ${name}`)
      .join("\n");
  return `self time by place (share of busy time):\n${table(byPlace)}\n\nheaviest functions (self time):\n${table(byFunction)}`;
}

function placeOf(url, functionName) {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith("node:")) return "node internals";
  return url.replace(/^file:\/\//, "").replace(/^.*\/dist\//, "dist/");
}

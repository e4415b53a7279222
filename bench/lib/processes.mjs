import { spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Starts a server as its own process (the load generator never shares its
 * event loop), its output going to `logFile`, and waits until it prints its
 * port.
 */
export async function startProcess({ name, args, env, logFile, listening }) {
  const fd = openSync(logFile, "w");
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const match = listening.exec(readFileSync(logFile, "utf8"));
    if (match) return { name, child, url: `http://127.0.0.1:${match[1]}`, stop: () => stop(child) };
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not start:\n${readFileSync(logFile, "utf8").slice(-2000)}`);
    }
    await sleep(50);
  }
}

async function stop(child) {
  if (child.exitCode !== null) return;
  child.kill("SIGTERM");
  await once(child, "exit");
}

/** Resident set size of a process, in bytes (Linux /proc). */
export function rssOf(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/**
 * CPU time (user + system, ms) each thread of a process has used so far, by
 * thread id (Linux /proc; the main thread's id is the pid). CPU time, unlike
 * a profile's samples, does not count the time a thread waited for a core.
 */
export function threadCpuMs(pid) {
  const msPerTick = 10; // USER_HZ is 100 on Linux
  return new Map(
    readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return [Number(tid), (Number(fields[11]) + Number(fields[12])) * msPerTick];
    }),
  );
}

/** Samples a process's RSS while `work` runs; resolves with work's result and the peak. */
export async function withPeakRss(pid, work) {
  let peak = rssOf(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssOf(pid));
  }, 100);
  try {
    const result = await work();
    return { ...result, peakRss: Math.max(peak, rssOf(pid)) };
  } finally {
    clearInterval(timer);
  }
}

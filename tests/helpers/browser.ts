import { execFileSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { extname, join, normalize } from "node:path";
import { type Browser, type BrowserContext, chromium } from "playwright-core";

/** What the browser tests drive and build: Debian's Chromium and the example page. */
export const CHROMIUM = "/usr/bin/chromium";
export const ROOT = join(__dirname, "..", "..");
export const WEB = join(ROOT, "examples", "web");
/** Screenshots (gitignored). */
export const ARTIFACTS = join(ROOT, "tests", "artifacts");

/**
 * Whether the browser tests can run. CI installs Debian's chromium; a developer
 * without it gets a skip, CI a failure.
 */
export function chromiumPresent(): boolean {
  const present = existsSync(CHROMIUM);
  if (!present && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs it with apt`);
  return present;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Requests to the API that the browser gave up on (a CORS refusal shows up here as net::ERR_FAILED). */
export function watchFailures(context: BrowserContext, apiUrl: string): string[] {
  const failures: string[] = [];
  context.on("requestfailed", (r) => {
    if (r.url().startsWith(apiUrl)) failures.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
  });
  return failures;
}

/** What a context's pages exchanged with the API, as a test reads it. */
export interface ApiTraffic {
  /** The body of every request sent to the API. */
  bodies: string[];
  /** Each POST's operation name and the first error's code, in the order answered. */
  answered: { operation: string; code?: string }[];
  /** The Bearer token of the latest request that carried one ("" before any). */
  token: string;
}

/** Records the API traffic of every page of `context` from now on. */
export function watchApi(context: BrowserContext, apiUrl: string): ApiTraffic {
  const traffic: ApiTraffic = { bodies: [], answered: [], token: "" };
  context.on("request", (r) => {
    if (!r.url().startsWith(apiUrl)) return;
    traffic.bodies.push(r.postData() ?? "");
    const bearer = r.headers().authorization;
    if (bearer?.startsWith("Bearer ")) traffic.token = bearer.slice("Bearer ".length);
  });
  context.on("response", async (r) => {
    if (!r.url().startsWith(apiUrl) || r.request().method() !== "POST") return;
    const operation = String(r.request().postDataJSON()?.operationName ?? "");
    const body = await r.json().catch(() => ({}));
    traffic.answered.push({ operation, code: body?.errors?.[0]?.extensions?.code });
  });
  return traffic;
}

/** The refresh cookie as the browser keeps it for the API (REFRESH_TOKEN_TRANSPORT=cookie). */
export const refreshCookie = async (context: BrowserContext, apiUrl: string) =>
  (await context.cookies(`${apiUrl}/graphql`)).find((c) => c.name === "__Secure-refresh_token");

const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };

/**
 * The built example page as a static site on its own origin, served the way a
 * host serves a single-page app: a file when the path names one, index.html
 * for any other path without a file extension (the page routes on
 * `location.pathname`: /reset-password, /verify-email, …), 404 for a missing
 * asset. `root` is read on every request, so it may be filled after start.
 */
export function serveStatic(root: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(new URL(req.url ?? "/", "http://x").pathname).replace(/^(\.\.[/\\])+/, "");
    let file = join(root, path);
    if (!file.startsWith(root)) return void res.writeHead(404).end();
    if (!existsSync(file) || statSync(file).isDirectory()) {
      if (extname(path) !== "") return void res.writeHead(404).end();
      file = join(root, "index.html");
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

export const port = (server: Server) => (server.address() as { port: number }).port;

/**
 * npm ci when node_modules is missing or older than the lock file (another
 * branch's dependencies). Test files run in parallel workers: a lock file
 * keeps two of them from installing into one folder at once.
 */
export function installWebExample(): void {
  const installed = join(WEB, "node_modules", ".package-lock.json");
  const current = () =>
    existsSync(installed) && statSync(installed).mtimeMs >= statSync(join(WEB, "package-lock.json")).mtimeMs;
  if (current()) return;
  withLock(join(WEB, ".npm-ci.lock"), () => {
    if (!current()) execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: WEB, stdio: "inherit" });
  });
}

/**
 * `npm run build` of the example (tsc, then vite build). `env` reaches Vite
 * (`VITE_API_URL`, `VITE_MAIL`); `outDir` builds elsewhere than `dist/`, so
 * tests building differently configured pages at once do not overwrite each
 * other. Returns the folder the page was built into.
 */
export function buildWebExample(env: Record<string, string> = {}, outDir?: string): string {
  const args = ["run", "build", ...(outDir ? ["--", "--outDir", outDir, "--emptyOutDir"] : [])];
  execFileSync("npm", args, { cwd: WEB, stdio: "inherit", env: { ...process.env, ...env } });
  return outDir ?? join(WEB, "dist");
}

/** Runs `fn` holding an exclusive lock file; a lock older than 10 minutes is taken as abandoned. */
function withLock(path: string, fn: () => void): void {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      closeSync(openSync(path, "wx"));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const held = statSync(path, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > 10 * 60_000) rmSync(path, { force: true });
      if (Date.now() > deadline) throw new Error(`${path} is still held after 10 minutes`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  try {
    fn();
  } finally {
    rmSync(path, { force: true });
  }
}

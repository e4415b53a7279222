import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { TEST_ENV } from "./server";

const OPERATOR = join(__dirname, "..", "..", "dist", "src", "cli", "operator.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built operator CLI (what `npm run cli` runs) as a separate process against a database file. */
export function cli(databaseUrl: string, ...args: string[]): Promise<CliResult> {
  return runCli({ ...TEST_ENV, DATABASE_URL: databaseUrl }, args);
}

/** The operator CLI with exactly `env` (and PATH), in `cwd`. */
export async function runCli(env: Record<string, string>, args: string[], cwd?: string): Promise<CliResult> {
  const child = spawn(process.execPath, [OPERATOR, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const [code] = await once(child, "exit");
  return { code: code as number | null, stdout, stderr };
}

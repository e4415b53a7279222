import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { TEST_ENV } from "./server";

const OPERATOR = join(__dirname, "..", "..", "dist", "src", "cli", "operator.js");

/** Runs the built operator CLI (what `npm run cli` runs) as a separate process against a database file. */
export async function cli(
  databaseUrl: string,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [OPERATOR, ...args], {
    env: { PATH: process.env.PATH ?? "", ...TEST_ENV, DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const [code] = await once(child, "exit");
  return { code: code as number | null, stdout, stderr };
}

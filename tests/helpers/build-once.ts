import { execFileSync } from "node:child_process";
import { join } from "node:path";

export default function buildOnce(): void {
  const root = join(__dirname, "..", "..");
  execFileSync(
    process.execPath,
    [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
    {
      cwd: root,
      stdio: "inherit",
    },
  );
}

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { printEmittedSchema, SCHEMA_FILE } from "../src/graphql/emit-schema";

describe("schema/schema.graphql", () => {
  it("is exactly what the code emits (run `npm run schema` after changing types)", async () => {
    expect(readFileSync(SCHEMA_FILE, "utf8")).toBe(await printEmittedSchema());
  });

  it("keeps the whole public contract", () => {
    const root = join(__dirname, "..");
    const output = execFileSync(
      process.execPath,
      [join(root, "..", "shared", "tools", "contract-check.mjs"), "schema/schema.graphql"],
      {
        cwd: root,
        encoding: "utf8",
      },
    );
    expect(output).toMatch(/keeps the whole contract/);
  });
});

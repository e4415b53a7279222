import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildClientSchema, getIntrospectionQuery, type IntrospectionQuery, printSchema } from "graphql";
import { describe, expect, it } from "vitest";
import { printEmittedSchema, SCHEMA_FILE } from "../src/graphql/emit-schema";
import { gql } from "./helpers/graphql";
import { startServer } from "./helpers/server";

describe("schema/schema.graphql", () => {
  it("is exactly what the code emits (run `npm run schema` after changing types)", async () => {
    expect(readFileSync(SCHEMA_FILE, "utf8")).toBe(await printEmittedSchema());
  });

  it("equals, line for line, what introspection of a running server prints", async () => {
    const server = await startServer();
    try {
      const r = await gql<IntrospectionQuery>(server.url, getIntrospectionQuery({ descriptions: true }));
      const served = printSchema(buildClientSchema(r.body.data!));
      const committed = readFileSync(SCHEMA_FILE, "utf8").replace(/^#.*\n\n/, "");
      expect(`${served}\n`).toBe(committed);
    } finally {
      await server.close();
    }
  });

  it("keeps the whole public contract", () => {
    const root = join(__dirname, "..");
    const output = execFileSync(
      process.execPath,
      [
        join(root, "..", "shared", "tools", "contract-check.mjs"),
        "schema/schema.graphql",
        "--parts",
        "email,mfa,oauth",
      ],
      {
        cwd: root,
        encoding: "utf8",
      },
    );
    // Every capability, named: one the schema dropped would fail here rather than be skipped.
    expect(output).toMatch(/keeps the whole contract \(core, email, mfa, oauth\)/);
  });
});

import "reflect-metadata";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { printSchema } from "graphql";
import { buildGraphQLSchema } from "./schema";

export const SCHEMA_FILE = join(__dirname, "..", "..", "schema", "schema.graphql");

/** The schema as committed: as served (sorted), so a diff shows only real changes. */
export async function printEmittedSchema(): Promise<string> {
  const schema = await buildGraphQLSchema();
  return `# Generated from the code by \`npm run schema\`. Do not edit: codegen consumers build against it.\n\n${printSchema(schema)}\n`;
}

if (require.main === module) {
  printEmittedSchema()
    .then((sdl) => {
      writeFileSync(SCHEMA_FILE, sdl);
      console.log(`wrote ${SCHEMA_FILE}`);
    })
    .catch((error) => {
      console.error(error);
      process.exit(1);
    });
}

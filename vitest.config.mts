import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // type-graphql and Apollo require graphql's CommonJS build; source files must get the
    // same copy, or graphql-js refuses objects "from another module or realm".
    alias: [
      {
        find: /^graphql(\/[a-z]+)?$/,
        replacement: `${require.resolve("graphql").replace(/index\.js$/, "")}$1/index.js`,
      },
    ],
  },
  test: {
    include: ["tests/**/*.test.ts"],
    // Builds dist/ once, so the process-level tests run exactly what `npm start` runs.
    globalSetup: ["tests/helpers/build-once.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

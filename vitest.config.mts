import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // Builds dist/ once, so the process-level tests run exactly what `npm start` runs.
    globalSetup: ["tests/helpers/build-once.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

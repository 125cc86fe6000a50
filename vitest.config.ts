import { defineConfig } from "vitest/config";

// Integration tests spawn real node processes from dist/, so `npm test` builds first.
// Files run in parallel workers (2 cores): keep each integration file self-contained (port 0, temp dirs).
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default", "./test/summary-reporter.ts"],
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});

import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["./test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Vitest's default (cores - 1) runs the files one by one on a 2-core machine, and most of our tests wait on
    // child processes (sandboxes, servers, PostgreSQL): two files at once took the suite from about 9.5 to about
    // 7 minutes on 2 cores, with every test passing. The sandboxes' limits the tests check are mostly CPU time, so sharing a core
    // does not change what they check.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});

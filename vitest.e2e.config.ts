import { defineConfig } from "vitest/config";

// End-to-end: `wrangler dev` over HTTP with real issuer and origin processes beside it (in Node).
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.e2e.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});

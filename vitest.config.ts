import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Tests run inside workerd with the real KV and Durable Object bindings of wrangler.toml.
export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: { ADMIN_TOKENS: "test-admin-token-0001,test-admin-token-0002" },
        // The demo origin Worker, bound under another name than ORIGIN so that only the tests that
        // want a Worker origin have one (test/origin-binding.test.ts).
        serviceBindings: { TEST_ORIGIN: "demo-origin-worker" },
        workers: [
          {
            name: "demo-origin-worker",
            modules: true,
            scriptPath: "./examples/origin-worker/index.js",
            compatibilityDate: "2026-11-01",
          },
        ],
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/e2e/**"],
    testTimeout: 20_000,
  },
});

// An esbuild plugin for bundling the project's modules to run in Node: `cloudflare:workers` (the
// runtime's own module, which Node cannot load) becomes a stub with empty base classes. Only what
// subclasses them at module level needs it (the ledger's DurableObject, the fresh head's
// WorkerEntrypoint); nothing here calls into them.

/** @type {import("esbuild").Plugin} */
export const cloudflareWorkersStub = {
  name: "cloudflare-workers-stub",
  setup(build) {
    build.onResolve({ filter: /^cloudflare:workers$/ }, () => ({
      path: "cloudflare:workers",
      namespace: "cloudflare-workers-stub",
    }));
    build.onLoad({ filter: /.*/, namespace: "cloudflare-workers-stub" }, () => ({
      contents:
        "export class DurableObject { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }\nexport class WorkerEntrypoint { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }\nexport class WorkflowEntrypoint {}\nexport const env = {};\n",
      loader: "js",
    }));
  },
};

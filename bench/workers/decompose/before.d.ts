// The project's gateway as of an older commit (bench/decompose.mjs --before, fcfa792 by default):
// bench/decompose.mjs extracts that commit's tree with git archive and maps this name to its
// src/routes/gateway.ts ([alias] in the wrangler config it writes for the bundle).
declare module "bench-decompose:before" {
  export const gateway: typeof import("../../../src/routes/gateway").gateway;
}

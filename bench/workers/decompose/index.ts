// The decomposition bench's Worker (bench/decompose.mjs): the pass-through, the contract's floor
// (step by step, floor.ts), the minimal jose Worker and the project's gateway, all in this one
// isolate. A request `/?target=<name>&n=<n>` runs that target's handler n times in a row on the same
// GET (the bench's token, the same origin), each response read to its end, and answers with the last
// status. One process and one isolate for all of them: the differences between them carry none of the
// per-process spread that moves a target's CPU by tens of µs in the load benchmark, where each
// target is a workerd of its own.
import { gateway } from "../../../src/routes/gateway";
import jose from "../jose/index";
import passthrough from "../passthrough/index";
import { viewOf } from "../../../src/revocation/view";
import floor, { floorUpTo } from "./floor";

export { RevocationLedger } from "../../../src/revocation/ledger";

interface BenchEnv extends Env {
  REVOCATIONS_FULL: KVNamespace;
  JWKS_URI: string;
  ISSUER: string;
  AUDIENCE: string;
  IDENTITY_HEADERS: [string, string][];
}

const MAX_N = 1_000;
// The gateway's env with the seeded namespace as its REVOCATIONS: one object per env, so that its
// Config (cached per env object) and its caches are made once, as for any env.
const fullEnvs = new WeakMap<BenchEnv, BenchEnv>();
const fullEnvOf = (env: BenchEnv) => {
  let full = fullEnvs.get(env);
  if (!full) fullEnvs.set(env, (full = { ...env, REVOCATIONS: env.REVOCATIONS_FULL }));
  return full;
};
const floorCopy = floorUpTo("copy");
const floorStrip = floorUpTo("strip");
const floorTimer = floorUpTo("timer");
const PATH = "/api/orders/42";

export default {
  async fetch(request: Request, env: BenchEnv, ctx: ExecutionContext): Promise<Response> {
    const params = new URL(request.url).searchParams;
    if (params.has("view")) return Response.json(viewOf(fullEnvOf(env).REVOCATIONS).status(Date.now()));
    const n = Math.min(MAX_N, Math.max(1, Number(params.get("n")) || 1));
    const url = `http://bench.example${PATH}`;
    const inner = new Request(url, { headers: request.headers });
    const run: Record<string, () => Promise<Response>> = {
      passthrough: () => passthrough.fetch(inner, { ORIGIN_URL: env.ORIGIN_URL }),
      "floor-copy": () => floorCopy(inner, env),
      "floor-strip": () => floorStrip(inner, env),
      floor: () => floor.fetch(inner, env),
      "floor-timer": () => floorTimer(inner, env),
      jose: () => jose.fetch(inner, env),
      project: () => gateway(inner, env, ctx, url),
      "project-full": () => gateway(inner, fullEnvOf(env), ctx, url),
    };
    const target = run[params.get("target") ?? ""];
    if (!target) return new Response("unknown target", { status: 404 });
    let status = 0;
    for (let i = 0; i < n; i++) {
      const res = await target();
      status = res.status;
      await res.arrayBuffer();
    }
    return new Response(String(status));
  },
} satisfies ExportedHandler<BenchEnv>;

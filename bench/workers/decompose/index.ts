// The decomposition bench's Worker (bench/decompose.mjs): the pass-through, the contract's floor
// (step by step, floor.ts), the minimal jose Worker and the project's gateway, all in this one
// isolate, and the project's gateway as of an older commit (bench-decompose:before, which the bench
// maps to that commit's src/routes/gateway.ts, extracted with git archive). A request
// `POST /?target=<name>&n=<n>` runs that target's handler n times in a row, each time on a GET of
// its own (the bench's token, the same origin), each response read to its end, and answers with the
// last status. The request's body holds n DPoP proofs, one a line, the i-th for the i-th GET of the
// DPoP targets: every target's request carries and reads the same body, and every target builds a
// Request per forward, so that neither shows in one target's figures and not another's. One process
// and one isolate for all of them: the differences between them carry none of the per-process
// spread that moves a target's CPU by tens of µs in the load benchmark, where each target is a
// workerd of its own.
import { gateway as gatewayBefore } from "bench-decompose:before";
import { gateway } from "../../../src/routes/gateway";
import jose from "../jose/index";
import passthrough from "../passthrough/index";
import { viewOf } from "../../../src/revocation/view";
import floor, { floorUpTo } from "./floor";

export { RevocationLedger } from "../../../src/revocation/ledger";
export { DpopReplay } from "../../../src/sender/replay-shard";

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
/** The DPoP targets: each GET carries the next proof of the body in a DPoP header. */
const DPOP_TARGETS = new Set(["project-dpop", "project-before-dpop"]);
/** What the bench's request carries for this Worker, not for the GETs it makes. */
const OWN_HEADERS = new Set(["content-length", "content-type"]);

export default {
  async fetch(request: Request, env: BenchEnv, ctx: ExecutionContext): Promise<Response> {
    const params = new URL(request.url).searchParams;
    if (params.has("view")) return Response.json(viewOf(fullEnvOf(env).REVOCATIONS).status(Date.now()));
    const n = Math.min(MAX_N, Math.max(1, Number(params.get("n")) || 1));
    const name = params.get("target") ?? "";
    const proofs = (await request.text()).split("\n");
    const url = `http://bench.example${PATH}`;
    const base = new Headers();
    for (const [header, value] of request.headers) if (!OWN_HEADERS.has(header)) base.append(header, value);
    const dpop = DPOP_TARGETS.has(name);
    if (dpop && proofs.length < n) return new Response(`${n} proofs needed, ${proofs.length} sent`, { status: 400 });
    const run: Record<string, (inner: Request) => Promise<Response>> = {
      passthrough: (inner) => passthrough.fetch(inner, { ORIGIN_URL: env.ORIGIN_URL }),
      "floor-copy": (inner) => floorCopy(inner, env),
      "floor-strip": (inner) => floorStrip(inner, env),
      floor: (inner) => floor.fetch(inner, env),
      "floor-timer": (inner) => floorTimer(inner, env),
      jose: (inner) => jose.fetch(inner, env),
      project: (inner) => gateway(inner, env, ctx, url),
      "project-full": (inner) => gateway(inner, fullEnvOf(env), ctx, url),
      "project-dpop": (inner) => gateway(inner, env, ctx, url),
      "project-before": (inner) => gatewayBefore(inner, env, ctx, url),
      "project-before-dpop": (inner) => gatewayBefore(inner, env, ctx, url),
    };
    const target = run[name];
    if (!target) return new Response("unknown target", { status: 404 });
    let status = 0;
    for (let i = 0; i < n; i++) {
      const headers = new Headers(base);
      if (dpop) headers.set("DPoP", proofs[i]!);
      const res = await target(new Request(url, { headers }));
      status = res.status;
      await res.arrayBuffer();
    }
    return new Response(String(status));
  },
} satisfies ExportedHandler<BenchEnv>;

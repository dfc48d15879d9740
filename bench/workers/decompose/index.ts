// The decomposition bench's Worker (bench/decompose.mjs): the pass-through, the contract's floor
// (step by step, floor.ts), the minimal jose Worker and the project's gateway, all in this one
// isolate, and the project's gateway as of an older commit (bench-decompose:before, which the bench
// maps to that commit's src/routes/gateway.ts, extracted with git archive). A request
// `POST /?target=<name>&n=<n>&offset=<k>` runs that target's handler n times in a row, each time on
// a GET of its own (the bench's token, the same origin), each response read to its end, and answers
// with the last status (and the last DPoP-Nonce any of them handed out, with how many did). The
// request's body holds DPoP proofs, one a line; the i-th GET of a DPoP target carries line k + i:
// every target's request carries and reads the same body, and every target builds a Request per
// forward, so that neither shows in one target's figures and not another's. One process and one
// isolate for all of them: the differences between them carry none of the per-process spread that
// moves a target's CPU by tens of µs in the load benchmark, where each target is a workerd of its own.
//
// Targets that need other settings than the env's (a seeded namespace, nonces, network-wide
// replay) run the same gateway on an env object of their own: the env with those vars replaced,
// made once, so that its Config (cached per env object) and its caches are made once, as for any env.
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
  /** SENDER_CONSTRAINTS and DPOP_NONCE_SECRET of the target that requires DPoP nonces. */
  NONCE_SENDER_CONSTRAINTS: object;
  NONCE_SECRET: string;
  /** POLICY of the targets with network-wide proof replay (proofReplay "network" on the rule). */
  NETWORK_POLICY: object;
}

const MAX_N = 1_000;
/** The vars each variant replaces in the env. */
const VARIANTS = {
  // The seeded namespace as REVOCATIONS.
  full: (env: BenchEnv) => ({ REVOCATIONS: env.REVOCATIONS_FULL }),
  nonce: (env: BenchEnv) => ({ SENDER_CONSTRAINTS: env.NONCE_SENDER_CONSTRAINTS, DPOP_NONCE_SECRET: env.NONCE_SECRET }),
  network: (env: BenchEnv) => ({ POLICY: env.NETWORK_POLICY }),
  // The same settings again, a Config and so a per-isolate replay memory of its own: what another
  // isolate is to the network target (the bench checks that the Durable Object refuses a proof the
  // network target accepted).
  "network-other": (env: BenchEnv) => ({ POLICY: env.NETWORK_POLICY }),
};
const variantEnvs = new WeakMap<BenchEnv, Map<keyof typeof VARIANTS, BenchEnv>>();
const envOf = (env: BenchEnv, variant: keyof typeof VARIANTS): BenchEnv => {
  let byVariant = variantEnvs.get(env);
  if (!byVariant) variantEnvs.set(env, (byVariant = new Map()));
  let own = byVariant.get(variant);
  if (!own) byVariant.set(variant, (own = { ...env, ...VARIANTS[variant](env) }));
  return own;
};
const floorCopy = floorUpTo("copy");
const floorStrip = floorUpTo("strip");
const floorTimer = floorUpTo("timer");
const PATH = "/api/orders/42";
/** The DPoP targets: each GET carries the next proof of the body in a DPoP header. */
const DPOP_TARGETS = new Set([
  "project-dpop",
  "project-dpop-nonce",
  "project-dpop-network",
  "project-dpop-network-other",
  "project-before-dpop",
]);
/** What the bench's request carries for this Worker, not for the GETs it makes. */
const OWN_HEADERS = new Set(["content-length", "content-type"]);

export default {
  async fetch(request: Request, env: BenchEnv, ctx: ExecutionContext): Promise<Response> {
    const params = new URL(request.url).searchParams;
    if (params.has("view")) return Response.json(viewOf(envOf(env, "full").REVOCATIONS).status(Date.now()));
    const n = Math.min(MAX_N, Math.max(1, Number(params.get("n")) || 1));
    const offset = Math.max(0, Number(params.get("offset")) || 0);
    const name = params.get("target") ?? "";
    const proofs = (await request.text()).split("\n");
    const url = `http://bench.example${PATH}`;
    const base = new Headers();
    for (const [header, value] of request.headers) if (!OWN_HEADERS.has(header)) base.append(header, value);
    const dpop = DPOP_TARGETS.has(name);
    if (dpop && proofs.length < offset + n)
      return new Response(`${offset + n} proofs needed, ${proofs.length} sent`, { status: 400 });
    const run: Record<string, (inner: Request) => Promise<Response>> = {
      passthrough: (inner) => passthrough.fetch(inner, { ORIGIN_URL: env.ORIGIN_URL }),
      "floor-copy": (inner) => floorCopy(inner, env),
      "floor-strip": (inner) => floorStrip(inner, env),
      floor: (inner) => floor.fetch(inner, env),
      "floor-timer": (inner) => floorTimer(inner, env),
      jose: (inner) => jose.fetch(inner, env),
      project: (inner) => gateway(inner, env, ctx, url),
      "project-full": (inner) => gateway(inner, envOf(env, "full"), ctx, url),
      "project-dpop": (inner) => gateway(inner, env, ctx, url),
      "project-dpop-nonce": (inner) => gateway(inner, envOf(env, "nonce"), ctx, url),
      "project-dpop-network": (inner) => gateway(inner, envOf(env, "network"), ctx, url),
      "project-dpop-network-other": (inner) => gateway(inner, envOf(env, "network-other"), ctx, url),
      "project-before": (inner) => gatewayBefore(inner, env, ctx, url),
      "project-before-dpop": (inner) => gatewayBefore(inner, env, ctx, url),
    };
    const target = run[name];
    if (!target) return new Response("unknown target", { status: 404 });
    let status = 0;
    let nonce: string | null = null;
    let nonces = 0;
    for (let i = 0; i < n; i++) {
      const headers = new Headers(base);
      if (dpop) headers.set("DPoP", proofs[offset + i]!);
      const res = await target(new Request(url, { headers }));
      status = res.status;
      const next = res.headers.get("DPoP-Nonce");
      if (next !== null) [nonce, nonces] = [next, nonces + 1];
      await res.arrayBuffer();
    }
    const answer = new Headers({ "X-Bench-Nonces": String(nonces) });
    if (nonce !== null) answer.set("DPoP-Nonce", nonce);
    return new Response(String(status), { headers: answer });
  },
} satisfies ExportedHandler<BenchEnv>;

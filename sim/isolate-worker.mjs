// A simulated isolate as a Worker of its own (one workerd isolate each), bundled by esbuild with the
// project's real RevocationView, probeOf and headFetcher (src/revocation/*), run by sim/propagation.mjs.
//
// Its bindings are the simulation's, served by the driver in Node through Miniflare function service
// bindings: SIMKV is this isolate's location's KV (propagation delay and cacheTtl, sim/lib/kv.mjs),
// wrapped here into the KV binding's get(key, type) shape; SIMHEAD is its location's Workers Cache in
// front of the real ledger's RevocationHead entrypoint (sim/lib/cache.mjs). The fresh head is read by
// the project's own headFetcher, over a ctx.exports stand-in whose RevocationHead.fetch goes to SIMHEAD.
//
// POST / with the isolate's parameters runs the loop (sim/lib/isolate-loop.mjs) and streams its events
// as NDJSON lines; the driver stamps each on its own clock as it arrives.
import { headFetcher, refreshWindowMs } from "../src/revocation/fresh-head.ts";
import { probeOf } from "../src/revocation/hashed-index.ts";
import { RevocationView } from "../src/revocation/view.ts";
import { runIsolate } from "./lib/isolate-loop.mjs";

export default {
  /** @param {Request} request @param {{ SIMKV: Fetcher, SIMHEAD: Fetcher }} env @param {ExecutionContext} ctx */
  async fetch(request, env, ctx) {
    const params = await request.json();
    const where = params.location;
    const kv = {
      /** @param {string} key @param {string | { type?: string, cacheTtl?: number }} [type] */
      async get(key, type) {
        const kind = typeof type === "string" ? type : (type?.type ?? "text");
        // The read's own cacheTtl (seconds), as the view passes it; the location's default without one.
        const ttl = typeof type === "object" && typeof type?.cacheTtl === "number" ? `&cacheTtl=${type.cacheTtl}` : "";
        const response = await env.SIMKV.fetch(
          `http://simkv/?where=${encodeURIComponent(where)}&key=${encodeURIComponent(key)}${ttl}`,
        );
        if (response.status === 404) {
          await response.arrayBuffer();
          return null;
        }
        if (!response.ok) throw new Error(`simulated KV: ${response.status}`);
        if (kind === "json") return response.json();
        if (kind === "arrayBuffer") return response.arrayBuffer();
        return response.text();
      },
    };
    const exportsStandIn = {
      RevocationHead: {
        /** @param {string} input */
        fetch: (input) => env.SIMHEAD.fetch(input, { headers: { "X-Sim-Location": where } }),
      },
    };
    const fetchHead = params.fresh ? headFetcher({ exports: exportsStandIn }) : undefined;
    const { readable, writable } = new TransformStream();
    const writer = writable.getWriter();
    const encoder = new TextEncoder();
    const emit = (/** @type {Record<string, unknown>} */ event) => {
      writer.write(encoder.encode(`${JSON.stringify(event)}\n`)).catch(() => {});
    };
    const done = runIsolate({
      RevocationView,
      probeOf,
      refreshWindowMs,
      kv,
      fetchHead,
      params,
      emit,
      now: () => Date.now(),
    })
      .catch((e) => emit({ e: "error", message: String(e?.stack ?? e) }))
      .finally(() => writer.close().catch(() => {}));
    ctx.waitUntil(done);
    return new Response(readable, { headers: { "Content-Type": "application/x-ndjson" } });
  },
};

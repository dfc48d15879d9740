// The fresh path from the ledger to every location: the ledger's newest entries (the "fresh head"),
// served by a Worker entrypoint that Workers Cache fronts. Each data center fills it at most about
// once a second (max-age=1), concurrent misses collapsed into one and tiered, so the ledger sees
// requests per second in the hundreds at most, however many isolates poll it (docs/revocation-
// storage.md, "Capacity"), and an isolate learns of a revocation within its staleness window plus
// that second, not after KV's propagation (a minute or more). KV stays what a cold isolate loads and
// what the edge falls back on: the head only carries the last FRESH_WINDOW_SECONDS of entries
// (src/constants.ts; its shape is in kv-layout.ts, beside KV's).
import { WorkerEntrypoint } from "cloudflare:workers";
import { LEDGER_TIMEOUT_MS } from "../constants";
import type { FreshHead } from "./kv-layout";
import { ledgerOf } from "./ledger";

export type { FreshHead } from "./kv-layout";

/** How long an isolate waits for the head before it falls back to KV for this window. */
export const FRESH_TIMEOUT_MS = 1_000;
/**
 * Cacheable for one second by every data center; never served stale when the ledger fails (Workers
 * Cache would otherwise serve the last head "indefinitely" on error, and the bound would silently go).
 */
export const FRESH_CACHE_CONTROL = "public, max-age=1, stale-if-error=0";
/**
 * How old a head can be when an isolate gets it: a second in the upper tier, then, since Age counts
 * whole seconds, up to a second more in the lower one (npm run sim:propagation -- --upper-tier).
 */
export const FRESH_HEAD_MAX_AGE_MS = 2_000;

/**
 * How old a view may get before it refreshes: the staleness window, or through the fresh head a
 * second less (at least a second), since a head can bring news FRESH_HEAD_MAX_AGE_MS old: the bound
 * stays the staleness + 1 s.
 */
export function refreshWindowMs(stalenessMs: number, viaFreshHead: boolean): number {
  return viaFreshHead ? Math.max(1_000, stalenessMs + 1_000 - FRESH_HEAD_MAX_AGE_MS) : stalenessMs;
}

/** What an isolate calls to read the head: through ctx.exports, so Workers Cache sits in between. */
export type FetchHead = () => Promise<FreshHead>;

/** The fresh head's entrypoint. Its fetch is the only cached one of this Worker (wrangler.toml). */
export class RevocationHead extends WorkerEntrypoint<Env> {
  override async fetch(): Promise<Response> {
    try {
      const head = await Promise.race([
        ledgerOf(this.env).freshHead(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), LEDGER_TIMEOUT_MS)),
      ]);
      return Response.json(head, { headers: { "Cache-Control": FRESH_CACHE_CONTROL } });
    } catch {
      // Not cached (no-store): the next isolate's poll asks again, and falls back to KV meanwhile.
      return new Response("the ledger did not answer", { status: 503, headers: { "Cache-Control": "no-store" } });
    }
  }
}

interface WithExports {
  exports?: { RevocationHead?: { fetch: (input: string) => Promise<Response> } };
}

/** The head through this request's ctx.exports, or undefined where there is none (some tests). */
export function headFetcher(ctx: { exports?: unknown } | undefined): FetchHead | undefined {
  const entrypoint = (ctx as WithExports | undefined)?.exports?.RevocationHead;
  if (!entrypoint) return undefined;
  return async () => {
    const response = await entrypoint.fetch("https://revocation-head.internal/");
    if (!response.ok) throw new Error(`fresh head: ${response.status}`);
    return (await response.json()) as FreshHead;
  };
}

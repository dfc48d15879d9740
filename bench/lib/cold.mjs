// The project behind a cold isolate, and the isolate's memory.
//
// Cold: a new Miniflare (a new workerd process, so a new isolate with empty caches: no JWKS, no
// imported key, no revocation view, no Cache API entry) answers one first request; its latency and
// the JWKS fetches it caused are recorded, then one more request shows the warm latency. Repeated.
//
// Memory: the V8 heap of the project's isolate, read over the inspector protocol after a full GC
// (HeapProfiler.collectGarbage, Runtime.getHeapUsage), with no revocations and with N loaded; and
// the workerd process's RSS. Measured in instances of their own, started with the inspector, after
// the load rounds, so the inspector never runs during a measured round.
import { cdp } from "./inspector.mjs";
import { freePort, rssBytes, sleep } from "./proc.mjs";
import { LOAD_PATH, warm } from "./round.mjs";
import { viewStatus } from "./seed.mjs";

/**
 * @param {{
 *   start: (label: string, inspectorPort?: number) => Promise<import("./workers.mjs").Running>,
 *   seed: ((t: import("./workers.mjs").Running) => Promise<void>) | null,
 *   tokens: string[], issuer: { stats: () => Promise<{ jwksFetches: Record<string, number> }> },
 *   reps: number, label: string,
 * }} options
 */
export async function coldStarts({ start, seed, tokens, issuer, reps, label }) {
  const runs = [];
  for (let i = 0; i < reps; i++) {
    const t = await start(label);
    try {
      if (seed) await seed(t);
      const jwks0 = (await issuer.stats()).jwksFetches[label] ?? 0;
      const first = await timedGet(t.url, /** @type {string} */ (tokens[(2 * i) % tokens.length]));
      const jwks1 = (await issuer.stats()).jwksFetches[label] ?? 0;
      const second = await timedGet(t.url, /** @type {string} */ (tokens[(2 * i + 1) % tokens.length]));
      runs.push({
        firstMs: first.ms,
        firstStatus: first.status,
        secondMs: second.ms,
        secondStatus: second.status,
        jwksFetches: jwks1 - jwks0,
      });
    } finally {
      await t.dispose();
    }
  }
  return runs;
}

/** @param {URL} url @param {string} token */
async function timedGet(url, token) {
  const t0 = performance.now();
  const res = await fetch(new URL(LOAD_PATH, url), {
    headers: { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(30_000),
  });
  await res.arrayBuffer();
  return { ms: performance.now() - t0, status: res.status };
}

/**
 * The isolate's heap after a full GC, and the process RSS, for a project with `revocations` loaded.
 * @param {{
 *   start: (label: string, inspectorPort?: number) => Promise<import("./workers.mjs").Running>,
 *   seed: ((t: import("./workers.mjs").Running) => Promise<void>) | null,
 *   tokens: string[], label: string, warmRequests?: number, allOk?: boolean,
 * }} options
 */
export async function isolateMemory({ start, seed, tokens, label, warmRequests = 3_000, allOk = false }) {
  const inspectorPort = await freePort();
  const t = await start(label, inspectorPort);
  try {
    if (seed) await seed(t);
    // Warm: a few thousand requests so that every lazily built structure exists.
    const statuses = await warm(t.url, tokens, warmRequests);
    if (allOk && Object.keys(statuses).some((status) => status !== "200"))
      throw new Error(`warming answered ${JSON.stringify(statuses)}`);
    const view = await viewStatus(t.url);
    await sleep(200);
    const wsBase = await t.mf.getInspectorURL();
    const [, heap] = await cdp(
      `ws://127.0.0.1:${wsBase.port}/core:user:${t.name}`,
      [{ method: "HeapProfiler.collectGarbage" }, { method: "Runtime.getHeapUsage" }],
      () => fetch(new URL("/.auth/health", t.url), { signal: AbortSignal.timeout(5_000) }).then((r) => r.arrayBuffer()),
    );
    // backingStorageSize: the ArrayBuffers outside the JS heap, where the view's records live.
    return {
      entries: view.entries,
      heapUsedBytes: heap.usedSize,
      heapTotalBytes: heap.totalSize,
      backingStorageBytes: heap.backingStorageSize ?? null,
      rssBytes: rssBytes(t.pids),
    };
  } finally {
    await t.dispose();
  }
}

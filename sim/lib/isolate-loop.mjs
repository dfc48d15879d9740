// One simulated isolate: one RevocationView (the project's real class, src/revocation/view.ts), its own
// refresh loop, and the check of every revocation of the run until it is denied. The same code runs
// inside a workerd isolate (sim/isolate-worker.mjs, the default) or in Node (--runtime node).
//
// The loop stands for the isolate's traffic: a "request" every tickMs, at a random phase. Each calls
// view.ensureFresh(window, Date.now(), undefined, fetchHead) with the window the Worker uses
// (refreshWindowMs: S, or S - 1 s through the fresh head; no waitUntil, so no refresh ahead), which
// refreshes only when the view is that old: once per window, at the isolate's own phase. After it, every jti of the run not yet denied is
// checked with view.revokedBy(probe) (probes made once with the project's probeOf, as the Worker
// makes them once per verification); the first denial of each is emitted at once. Checking jtis
// that are not revoked yet is harmless (they are simply not found), so the isolate needs no list of
// "outstanding" revocations from the driver: the driver stamps each denial on its own clock.
//
// Bounded: at most maxTicks ticks, never past endAtMs, and it stops as soon as all are denied.

/**
 * @param {{
 *   RevocationView: any, probeOf: (facts: { iss: string, jti: string }) => Promise<any>,
 *   refreshWindowMs: (stalenessMs: number, viaFreshHead: boolean) => number,
 *   kv: { get: (key: string, type?: any) => Promise<any> },
 *   fetchHead: undefined | (() => Promise<any>),
 *   params: { stalenessMs: number, tickMs: number, startOffsetMs: number, endAtMs: number, maxTicks: number, iss: string, jtis: string[] },
 *   emit: (event: Record<string, unknown>) => void,
 *   now: () => number,
 * }} o
 */
export async function runIsolate({ RevocationView, probeOf, refreshWindowMs, kv, fetchHead, params, emit, now }) {
  const { stalenessMs, tickMs, startOffsetMs, endAtMs, maxTicks, iss, jtis } = params;
  const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  const view = new RevocationView(kv);
  /** @type {any[]} */
  const probes = [];
  for (const jti of jtis) probes.push(await probeOf({ iss, jti }));
  const denied = new Uint8Array(jtis.length);
  let left = jtis.length;
  let ticks = 0;
  let notVouched = 0;
  let ready = false;
  await sleep(startOffsetMs);
  for (; ticks < maxTicks && now() < endAtMs && left > 0; ticks++) {
    const t = now();
    const ok = await view.ensureFresh(refreshWindowMs(stalenessMs, fetchHead !== undefined), t, undefined, fetchHead);
    if (!ok) {
      // The Worker would ask the ledger for each token now (one request per token and window):
      // counted, not simulated; the view's own answer is not used while it cannot vouch.
      notVouched++;
    } else {
      if (!ready) {
        ready = true;
        emit({ e: "ready" });
      }
      for (let i = 0; i < probes.length; i++) {
        if (denied[i] === 0 && view.revokedBy(probes[i]) !== null) {
          denied[i] = 1;
          left--;
          emit({ e: "denied", i });
        }
      }
    }
    await sleep(t + tickMs - now());
  }
  const status = view.status(now());
  emit({ e: "end", ticks, notVouched, left, status });
}

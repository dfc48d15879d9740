// One measured round: autocannon at a fixed concurrency for a fixed time against one target, each
// request carrying the next token of the workload, while the target's workerd CPU time is read from
// /proc before and after. Latencies are recorded per response at full precision (autocannon's own
// histogram has 1 ms buckets, too coarse for sub-millisecond differences).
import { createRequire } from "node:module";
import { CLK_TCK, cpuTicks } from "./proc.mjs";
import { viewStatus } from "./seed.mjs";

/** autocannon ships no type declarations. */
const autocannon = /** @type {any} */ (createRequire(import.meta.url)("autocannon"));

export const LOAD_PATH = "/api/orders/42";

/**
 * @typedef {{
 *   name: string, url: URL, pids: number[], jwksLabel: string | null, project: boolean,
 * }} Target
 * @typedef {{ name: string, alg: string, kind: "one" | "cycled" | "distinct", tokens: string[] }} Workload
 * @typedef {{
 *   target: string, workload: string, round: number, durationS: number, connections: number,
 *   requests: number, ok: number, non2xx: Record<string, number>, errors: number, timeouts: number,
 *   rps: number, p50: number, p90: number, p99: number, max: number,
 *   cpuMs: number, cpuUsPerReq: number, loadGenCpuMs: number, originCpuMs: number,
 *   jwksFetches: number | null, kvReads: number | null, tokensUsed: number, tokensReused: number,
 * }} RoundResult
 */

/**
 * @param {number[]} sorted ascending
 * @param {number} p 0..100
 */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return /** @type {number} */ (sorted[rank]);
}

/**
 * @param {{
 *   target: Target, workload: Workload, round: number, cursor: { next: number },
 *   connections: number, durationS: number,
 *   issuer: { stats: () => Promise<{ jwksFetches: Record<string, number> }> },
 *   origin: { pid: number },
 * }} options
 * @returns {Promise<RoundResult>}
 */
export async function runRound({ target, workload, round, cursor, connections, durationS, issuer, origin }) {
  const tokens = workload.tokens;
  const startCursor = cursor.next;
  const jwksBefore = target.jwksLabel ? ((await issuer.stats()).jwksFetches[target.jwksLabel] ?? 0) : 0;
  const kvBefore = target.project ? (await viewStatus(target.url)).kvReads : 0;

  /** @type {number[]} */
  const latencies = [];
  /** @type {Record<string, number>} */
  const non2xx = {};
  const ticks0 = cpuTicks(target.pids);
  const origin0 = cpuTicks([origin.pid]);
  const self0 = process.cpuUsage();
  const wall0 = performance.now();
  const result = await new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url.href,
        connections,
        duration: durationS,
        pipelining: 1,
        timeout: 10,
        requests: [
          {
            method: "GET",
            path: LOAD_PATH,
            setupRequest: (/** @type {any} */ req) => {
              req.headers = { ...req.headers, authorization: `Bearer ${tokens[cursor.next++ % tokens.length]}` };
              return req;
            },
          },
        ],
      },
      (/** @type {Error | null} */ err, /** @type {any} */ res) => {
        clearTimeout(guard);
        if (err) reject(err);
        else resolve(res);
      },
    );
    instance.on(
      "response",
      (
        /** @type {unknown} */ _client,
        /** @type {number} */ status,
        /** @type {number} */ _bytes,
        /** @type {number} */ ms,
      ) => {
        if (status >= 200 && status < 300) latencies.push(ms);
        else non2xx[status] = (non2xx[status] ?? 0) + 1;
      },
    );
    // Bounded even if a connection hangs: autocannon stops itself after `duration`; this is the backstop.
    const guard = setTimeout(() => instance.stop(), (durationS + 15) * 1000);
  });
  // autocannon's own duration (from its first request to its stop), else our wall clock.
  const wallS =
    typeof result.duration === "number" && result.duration > 0 ? result.duration : (performance.now() - wall0) / 1000;
  const cpuMs = ((cpuTicks(target.pids) - ticks0) / CLK_TCK) * 1000;
  const originCpuMs = ((cpuTicks([origin.pid]) - origin0) / CLK_TCK) * 1000;
  const self = process.cpuUsage(self0);

  const jwksAfter = target.jwksLabel ? ((await issuer.stats()).jwksFetches[target.jwksLabel] ?? 0) : 0;
  const kvAfter = target.project ? (await viewStatus(target.url)).kvReads : 0;

  latencies.sort((a, b) => a - b);
  const non2xxCount = Object.values(non2xx).reduce((a, b) => a + b, 0);
  const requests = latencies.length + non2xxCount;
  const used = cursor.next - startCursor;
  return {
    target: target.name,
    workload: workload.name,
    round,
    durationS: wallS,
    connections,
    requests,
    ok: latencies.length,
    non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    rps: requests / wallS,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies.length ? /** @type {number} */ (latencies[latencies.length - 1]) : NaN,
    cpuMs,
    cpuUsPerReq: requests ? (cpuMs * 1000) / requests : NaN,
    loadGenCpuMs: (self.user + self.system) / 1000,
    originCpuMs,
    jwksFetches: target.jwksLabel ? jwksAfter - jwksBefore : null,
    kvReads: target.project ? kvAfter - kvBefore : null,
    tokensUsed: used,
    // Requests whose token this target had already been sent earlier in the run (distinct workloads only).
    tokensReused:
      workload.kind === "distinct"
        ? Math.max(0, cursor.next - tokens.length) - Math.max(0, startCursor - tokens.length)
        : 0,
  };
}

/**
 * Warms a target: `amount` requests, 8 at a time, cycling through `tokens`; not measured.
 * @param {URL} url
 * @param {string[]} tokens
 * @param {number} amount
 * @returns {Promise<Record<string, number>>} the status codes seen
 */
export async function warm(url, tokens, amount) {
  /** @type {Record<string, number>} */
  const statuses = {};
  let i = 0;
  const one = async () => {
    while (i < amount) {
      const token = tokens[i++ % tokens.length];
      const res = await fetch(new URL(LOAD_PATH, url), {
        headers: { Authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(30_000),
      });
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 8 }, one));
  return statuses;
}

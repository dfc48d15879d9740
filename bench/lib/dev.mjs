// The figures taken under `wrangler dev` (never the load targets: wrangler dev puts a proxy Worker, a
// request log and a tracing tail Worker in front of every request):
//
//   revocation latency  from a revoke's 200 to the first 401 for that token on an eventual route,
//                       with the default REVOCATION_MAX_STALENESS_SECONDS of wrangler.toml; N tokens,
//                       a few at a time, starts spread over the staleness window.
//   dev overhead        one short load round through wrangler dev, to quote how much slower the dev
//                       tooling is than the Worker itself (req/s and CPU per request of its processes).
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { descendants, freePort, sleep, startNode, stopGroup, waitForHttp } from "./proc.mjs";
import { runRound } from "./round.mjs";
import { CONFIGS, ROOT } from "./workers.mjs";

const require = createRequire(import.meta.url);
const WRANGLER = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
/** Each revoked token is polled this often until denied: the figures' resolution. */
const POLL_MS = 100;

/**
 * @param {{
 *   issuer: { url: string, jwksUri: (label: string) => string, stats: () => Promise<any> },
 *   origin: { url: string, pid: number },
 *   vars: Record<string, unknown>, adminToken: string,
 *   revokeTokens: string[], concurrency: number,
 *   overheadWorkload: import("./round.mjs").Workload | null, connections: number, durationS: number,
 *   log: (line: string) => void,
 * }} options
 */
export async function underWranglerDev({
  issuer,
  origin,
  vars,
  adminToken,
  revokeTokens,
  concurrency,
  overheadWorkload,
  connections,
  durationS,
  log,
}) {
  const dir = mkdtempSync(join(tmpdir(), "bench-dev-"));
  const port = await freePort();
  const inspectorPort = await freePort();
  const varArgs = Object.entries(vars).flatMap(([k, v]) => [
    "--var",
    `${k}:${typeof v === "string" ? v : JSON.stringify(v)}`,
  ]);
  const proc = startNode(
    [
      WRANGLER,
      "dev",
      "-c",
      CONFIGS.project,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspectorPort),
      "--persist-to",
      join(dir, "state"),
      "--show-interactive-dev-session=false",
      ...varArgs,
    ],
    {},
    ROOT,
  );
  const gateway = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${gateway}/.auth/health`, proc, 120_000);
    const health = /** @type {any} */ (await (await fetch(`${gateway}/.auth/health`)).json());
    const stalenessS = health.revocation.maxStalenessSeconds;

    let overhead = null;
    if (overheadWorkload) {
      // Every process wrangler dev runs (its Node processes and workerd), as one target.
      const pids = [/** @type {number} */ (proc.child.pid), ...descendants(/** @type {number} */ (proc.child.pid))];
      const target = { name: "wrangler dev", url: new URL(gateway), pids, jwksLabel: "dev", project: true };
      const cursor = { next: 0 };
      // Warm first (key import, view), then one measured round.
      await runRound({
        target,
        workload: overheadWorkload,
        round: 0,
        cursor,
        connections,
        durationS: 1,
        issuer,
        origin,
      });
      overhead = await runRound({
        target,
        workload: overheadWorkload,
        round: 1,
        cursor,
        connections,
        durationS,
        issuer,
        origin,
      });
      log(
        `wrangler dev: ${overhead.rps.toFixed(0)} req/s, ${overhead.cpuUsPerReq.toFixed(0)} µs CPU/req (all of its processes)`,
      );
    }

    const latencies = await revocationLatencies({
      gateway,
      adminToken,
      tokens: revokeTokens,
      concurrency,
      stalenessS,
      log,
    });
    return { stalenessS, latenciesMs: latencies, overhead };
  } finally {
    await stopGroup(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * @param {{ gateway: string, adminToken: string, tokens: string[], concurrency: number, stalenessS: number, log: (l: string) => void }} o
 * @returns {Promise<number[]>} ms from each revoke's 200 to the first 401 (Infinity if never within the bound)
 */
async function revocationLatencies({ gateway, adminToken, tokens, concurrency, stalenessS, log }) {
  const get = (/** @type {string} */ t) =>
    fetch(`${gateway}/api/orders/1`, {
      headers: { Authorization: `Bearer ${t}` },
      signal: AbortSignal.timeout(10_000),
    }).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    });
  // Each token is accepted first, so the isolate has its view loaded and the token is known good.
  for (const t of tokens) {
    const status = await get(t);
    if (status !== 200) throw new Error(`under wrangler dev a fresh token got ${status}, not 200`);
  }
  const maxWaitMs = (stalenessS + 10) * 1000;
  /** @type {number[]} */
  const results = [];
  let next = 0;
  const worker = async () => {
    for (let n = 0; n < tokens.length && next < tokens.length; n++) {
      const token = /** @type {string} */ (tokens[next++]);
      // Each revoke at a random moment of the staleness window: revoking right after the previous
      // denial (i.e. right after a refresh) would always measure the worst case.
      await sleep(Math.random() * stalenessS * 1000);
      const res = await fetch(`${gateway}/.auth/revoke`, {
        method: "POST",
        headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
        body: JSON.stringify({ token }),
        signal: AbortSignal.timeout(15_000),
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`revoke answered ${res.status}`);
      const answered = performance.now();
      let ms = Infinity;
      for (let i = 0; performance.now() - answered < maxWaitMs && i < 10_000; i++) {
        if ((await get(token)) === 401) {
          ms = performance.now() - answered;
          break;
        }
        await sleep(POLL_MS);
      }
      results.push(ms);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tokens.length) }, worker));
  log(`revocation latency: ${results.length} revocations measured`);
  return results;
}

// npm run sim:propagation: how a revocation reaches every Cloudflare location, simulated on one
// machine (see sim/README.md). One real ledger (the project's Worker and its RevocationLedger Durable
// Object, in Miniflare, with the real KV namespace); revocations made through the real
// POST /.auth/revoke at a steady rate, each timestamped at its 200; L simulated locations x M
// isolates, each isolate the project's real RevocationView in a workerd isolate of its own (or in
// Node with --runtime node); per location a simulated Workers Cache in front of the real
// RevocationHead entrypoint and a simulated KV (propagation delay, cacheTtl) over the real namespace.
// Two paths side by side on the same revocations: "fresh" (the views read the fresh head) and
// "kv" (no fetchHead: KV alone, for comparison). Prints p50/p99/max of revoke-200 -> first denial per
// location and path, and the requests per second that reach the ledger; exits 1 unless, on the fresh
// path, every location's p99 is at most S + 1 s and every revocation was seen.
//
//   npm run sim:propagation -- --help
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { convertV4MiniflareOptions, Miniflare, Response as MfResponse } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { bundle, CONFIGS, ROOT } from "../bench/lib/workers.mjs";
import { HttpCache, originOf } from "./lib/cache.mjs";
import { runIsolate } from "./lib/isolate-loop.mjs";
import { KvMirror, LocationKv } from "./lib/kv.mjs";

process.env.WRANGLER_SEND_METRICS = "false";
// wrangler would otherwise read an environment of wrangler.toml from it.
delete process.env.CLOUDFLARE_ENV;

const { values: flags } = parseArgs({
  options: {
    locations: { type: "string", default: "12" },
    isolates: { type: "string", default: "3" },
    rate: { type: "string", default: "1" },
    duration: { type: "string", default: "60" },
    staleness: { type: "string" },
    "kv-propagation": { type: "string", default: "60" },
    "kv-cache-ttl": { type: "string", default: "60" },
    "upper-tier": { type: "boolean", default: false },
    "tier-age": { type: "string", default: "honour" },
    "tick-ms": { type: "string", default: "50" },
    margin: { type: "string", default: "10" },
    "poll-ms": { type: "string", default: "100" },
    runtime: { type: "string", default: "workerd" },
    "no-kv": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(`npm run sim:propagation -- [options]
  --locations N        simulated locations (12)
  --isolates N         isolates per location, per path (3)
  --rate R             revocations per second through POST /.auth/revoke (1)
  --duration S         seconds of revoking (60)
  --staleness S        REVOCATION_MAX_STALENESS_SECONDS (wrangler.toml's, 5)
  --kv-propagation S   how long a KV write takes to be visible in a location (60)
  --kv-cache-ttl S     how long a location caches a KV read that names no cacheTtl, missing keys too (60;
                       the view names 30, KV_CACHE_TTL_SECONDS)
  --upper-tier         a tiered cache: one upper tier shared by every location (off)
  --tier-age M         honour | ignore: whether a lower tier subtracts the upper tier's Age (honour)
  --tick-ms MS         each isolate's "request" interval: ensureFresh + checks each tick (50)
  --margin S           added to each path's watch window (10)
  --poll-ms MS         how often the real KV namespace is polled for new values (100)
  --runtime R          workerd (one workerd isolate per simulated isolate) | node (views in Node) (workerd)
  --no-kv              skip the KV-only comparison (the run is then about 1.5 minutes)`);
  process.exit(0);
}

/** A number flag within [min, max], or exit with a message. */
function num(
  /** @type {string} */ name,
  /** @type {string | undefined} */ raw,
  /** @type {number} */ min,
  /** @type {number} */ max,
) {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`--${name} must be a number in [${min}, ${max}], not ${raw}`);
    process.exit(2);
  }
  return n;
}

const { workerOptions } = unstable_getMiniflareWorkerOptions(CONFIGS.project);
const { modulesRules: _rules, ...ledgerOptions } = /** @type {Record<string, any>} */ (workerOptions);
const configured = /** @type {Record<string, any>} */ (ledgerOptions.bindings ?? {});
const issuers = typeof configured.ISSUERS === "string" ? JSON.parse(configured.ISSUERS) : configured.ISSUERS;
const ISS = /** @type {string} */ (issuers?.[0]?.issuer);
if (typeof ISS !== "string") throw new Error("wrangler.toml configures no issuer");

const L = Math.round(num("locations", flags.locations, 1, 64));
const M = Math.round(num("isolates", flags.isolates, 1, 16));
const RATE = num("rate", flags.rate, 0.05, 20);
const DURATION_S = num("duration", flags.duration, 1, 600);
const S = num("staleness", flags.staleness ?? String(configured.REVOCATION_MAX_STALENESS_SECONDS ?? 5), 1, 300);
const PROPAGATION_MS = num("kv-propagation", flags["kv-propagation"], 0, 600) * 1000;
const CACHE_TTL_MS = num("kv-cache-ttl", flags["kv-cache-ttl"], 0, 600) * 1000;
const TICK_MS = num("tick-ms", flags["tick-ms"], 5, 1000);
const MARGIN_MS = num("margin", flags.margin, 0, 120) * 1000;
const POLL_MS = num("poll-ms", flags["poll-ms"], 10, 5000);
const UPPER_TIER = flags["upper-tier"];
const HONOUR_AGE = flags["tier-age"] !== "ignore";
if (!["honour", "ignore"].includes(String(flags["tier-age"]))) {
  console.error("--tier-age must be honour or ignore");
  process.exit(2);
}
const RUNTIME = flags.runtime;
if (RUNTIME !== "workerd" && RUNTIME !== "node") {
  console.error("--runtime must be workerd or node");
  process.exit(2);
}
const PATHS = flags["no-kv"] ? ["fresh"] : ["fresh", "kv"];
const N = Math.max(1, Math.round(DURATION_S * RATE));
const BOUND_MS = (S + 1) * 1000;
/** Per path: how long after its 200 a revocation is watched for; later it is reported unseen. */
const WATCH_MS = { fresh: 2 * BOUND_MS + MARGIN_MS, kv: S * 1000 + PROPAGATION_MS + CACHE_TTL_MS + MARGIN_MS };
const ADMIN_TOKEN = "sim-propagation-admin-token-0001";
const RUN_ID = crypto.randomUUID().slice(0, 8);
const JTIS = Array.from({ length: N }, (_, i) => `sim-${RUN_ID}-${i + 1}`);
const clock = () => performance.timeOrigin + performance.now();
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const log = (/** @type {string} */ s) => process.stderr.write(`[sim] ${s}\n`);
const T0 = clock();

/** @type {(() => Promise<unknown>)[]} */
const cleanups = [];
async function cleanup() {
  for (const fn of cleanups.reverse()) {
    await Promise.race([fn().catch((e) => log(`cleanup: ${e}`)), sleep(15_000)]);
  }
  cleanups.length = 0;
}
for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM"])) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    cleanup().finally(() => process.exit(130));
  });
}

/** The project's wrangler config's compatibility settings, shared by the simulated isolates. */
const compat = {
  compatibilityDate: ledgerOptions.compatibilityDate,
  compatibilityFlags: ledgerOptions.compatibilityFlags ?? [],
};

/** esbuild of the isolate Worker (workerd: cloudflare:workers is the runtime's own). */
async function bundleIsolate(/** @type {string} */ outdir) {
  const outfile = join(outdir, "isolate.mjs");
  await build({
    entryPoints: [join(ROOT, "sim/isolate-worker.mjs")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["workerd", "worker", "browser"],
    external: ["cloudflare:workers"],
    outfile,
    logLevel: "error",
  });
  return outfile;
}

/**
 * The same src modules for Node (--runtime node): cloudflare:workers, which only the ledger and the
 * RevocationHead class use (never the view), stubbed so that the modules load.
 */
async function importForNode(/** @type {string} */ outdir) {
  const outfile = join(outdir, "node-view.mjs");
  await build({
    stdin: {
      contents: [
        'export { RevocationView } from "./src/revocation/view.ts";',
        'export { probeOf } from "./src/revocation/hashed-index.ts";',
        'export { headFetcher, refreshWindowMs } from "./src/revocation/fresh-head.ts";',
      ].join("\n"),
      resolveDir: ROOT,
      sourcefile: "sim-node-entry.ts",
      loader: "ts",
    },
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    outfile,
    logLevel: "error",
    plugins: [
      {
        name: "cloudflare-workers-stub",
        setup(b) {
          b.onResolve({ filter: /^cloudflare:workers$/ }, () => ({ path: "cloudflare:workers", namespace: "stub" }));
          b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({
            contents: "export class WorkerEntrypoint {}\nexport class DurableObject {}\n",
            loader: "js",
          }));
        },
      },
    ],
  });
  return import(pathToFileURL(outfile).href);
}

/** The real Worker and ledger, with direct sockets to its default entrypoint and to RevocationHead. */
async function startLedger(/** @type {string} */ entry) {
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      cf: false,
      logRequests: false,
      handleStructuredLogs: () => {},
      workers: [
        {
          ...ledgerOptions,
          name: "ledger",
          modules: [{ type: "ESModule", path: entry }],
          modulesRoot: dirname(entry),
          bindings: {
            ...configured,
            ADMIN_TOKENS: ADMIN_TOKEN,
            REVOCATION_MAX_STALENESS_SECONDS: S,
            LOG_DECISIONS: "denials",
          },
          unsafeDirectSockets: [
            { host: "127.0.0.1", port: 0 },
            { host: "127.0.0.1", port: 0, entrypoint: "RevocationHead" },
          ],
        },
      ],
    }),
  );
  cleanups.push(() => mf.dispose());
  await mf.ready;
  const url = await mf.unsafeGetDirectURL("ledger");
  const headUrl = await mf.unsafeGetDirectURL("ledger", "RevocationHead");
  const kv = await mf.getKVNamespace("REVOCATIONS", "ledger");
  return { mf, url, headUrl, kv };
}

const ledgerCounts = { revokes: 0, revokeFailures: 0, selfCheck: 0 };

/** POST /.auth/revoke for one jti; resolves at its 200 (the timestamp) or throws. */
async function revoke(/** @type {URL} */ url, /** @type {string} */ jti) {
  ledgerCounts.revokes++;
  const response = await fetch(new URL("/.auth/revoke", url), {
    method: "POST",
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ jti, exp: Math.floor(Date.now() / 1000) + 600, iss: ISS }),
    signal: AbortSignal.timeout(10_000),
  });
  const at = clock();
  const text = await response.text();
  if (response.status !== 200) {
    ledgerCounts.revokeFailures++;
    throw new Error(`revoke ${jti}: ${response.status} ${text.slice(0, 300)}`);
  }
  return { at, seq: /** @type {number} */ (JSON.parse(text).seq) };
}

/**
 * Nothing caches between this driver and the ledger's head: a revoke is in the head read right
 * after its 200, and the head carries the Cache-Control the simulated caches obey.
 */
async function selfCheck(/** @type {{ url: URL, headUrl: URL }} */ ledger) {
  const read = async () => {
    ledgerCounts.selfCheck++;
    const r = await fetch(ledger.headUrl, { signal: AbortSignal.timeout(5_000) });
    return { status: r.status, cacheControl: r.headers.get("cache-control"), head: await r.json() };
  };
  const first = await read();
  if (first.status !== 200) throw new Error(`the fresh head answered ${first.status}`);
  ledgerCounts.selfCheck++;
  const { seq } = await revoke(ledger.url, `sim-${RUN_ID}-selfcheck`);
  ledgerCounts.revokes--;
  const second = await read();
  const has = second.head.entries.some((/** @type {any[]} */ e) => e[0] === seq);
  if (second.head.seq < seq || !has)
    throw new Error(
      `the head read right after revoke seq ${seq} does not carry it: ${JSON.stringify(second.head).slice(0, 300)}`,
    );
  return second.cacheControl;
}

/** One simulated location of one path: its KV, and (fresh path) its Workers Cache. */
function makeLocations(
  /** @type {string} */ path,
  /** @type {KvMirror} */ mirror,
  /** @type {() => Promise<any>} */ originFetch,
) {
  const upper = UPPER_TIER ? new HttpCache(`${path}:upper`, originFetch, clock, { honourAge: HONOUR_AGE }) : null;
  const upstream = upper ? () => upper.get() : originFetch;
  const locations = Array.from({ length: L }, (_, i) => ({
    name: `L${String(i + 1).padStart(2, "0")}`,
    path,
    kv: new LocationKv(mirror, clock, { propagationMs: PROPAGATION_MS, cacheTtlMs: CACHE_TTL_MS }),
    cache: new HttpCache(`${path}:L${i + 1}`, upstream, clock, { honourAge: HONOUR_AGE }),
  }));
  return { locations, upper };
}

/** @typedef {{ path: string, location: string, index: number, ready: boolean, end: any, error: string | null, denials: Map<number, number>, done: Promise<void> }} Isolate */

/** Reads an isolate's NDJSON events, stamping denials on the driver's clock. */
function collect(/** @type {Isolate} */ iso, /** @type {Record<string, any>} */ event) {
  if (event.e === "ready") iso.ready = true;
  else if (event.e === "denied") {
    if (!iso.denials.has(event.i)) iso.denials.set(event.i, clock());
  } else if (event.e === "end") iso.end = event;
  else if (event.e === "error") iso.error = String(event.message);
}

/** The headers a cached answer carries to the isolate (not the origin's framing ones). */
function passed(/** @type {Record<string, string>} */ headers) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const name of ["content-type", "cache-control", "age"])
    if (headers[name] !== undefined) out[name] = headers[name];
  return out;
}

/** @param {number[]} sorted @param {number} q */
const quantile = (sorted, q) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), "sim-propagation-"));
  cleanups.push(async () => rmSync(tmp, { recursive: true, force: true }));
  log(`bundling the Worker (wrangler deploy --dry-run) and the isolate (esbuild) ...`);
  const [entry, isolateBundle, nodeModules] = await Promise.all([
    bundle(CONFIGS.project, join(tmp, "worker")),
    RUNTIME === "workerd" ? bundleIsolate(join(tmp, "isolate")) : Promise.resolve(null),
    RUNTIME === "node" ? importForNode(join(tmp, "node")) : Promise.resolve(null),
  ]);
  const ledger = await startLedger(entry);
  const headerCacheControl = await selfCheck(ledger);
  log(`ledger up (${ledger.url.host}; RevocationHead ${ledger.headUrl.host}; Cache-Control: ${headerCacheControl})`);

  const origin = originOf(ledger.headUrl);
  const mirror = new KvMirror(ledger.kv, clock);
  await mirror.poll();
  const plannedRevokeStart = clock() + 30_000; // replaced below once every isolate is ready
  const hardEnd =
    plannedRevokeStart +
    DURATION_S * 1000 +
    Math.max(...PATHS.map((p) => WATCH_MS[/** @type {"fresh"|"kv"} */ (p)])) +
    60_000;
  const poller = mirror.start(POLL_MS, hardEnd, Math.ceil((hardEnd - clock()) / POLL_MS) + 10);
  cleanups.push(() => poller.stop());

  /** @type {Record<string, ReturnType<typeof makeLocations>>} */
  const worlds = {};
  for (const path of PATHS) worlds[path] = makeLocations(path, mirror, () => origin.fetch());
  const locationOf = (/** @type {string} */ where) => {
    const [path, name] = where.split(":");
    const loc = worlds[path ?? ""]?.locations.find((l) => l.name === name);
    if (!loc) throw new Error(`no location ${where}`);
    return loc;
  };

  // Every isolate's end: the last planned revocation's watch window after the revokes, plus slack.
  // Isolates stop earlier once all N are denied.
  const revokeLeadMs = S * 1000 + 3_000; // isolates start (random phase within one window) and load first
  const isolateEnd = (/** @type {string} */ path, /** @type {number} */ startAt) =>
    startAt + revokeLeadMs + (N / RATE) * 1000 + WATCH_MS[/** @type {"fresh"|"kv"} */ (path)] + 10_000;

  /** @type {Isolate[]} */
  const isolates = [];
  const abort = new AbortController();
  cleanups.push(async () => abort.abort());
  const startAt = clock();
  const paramsOf = (/** @type {string} */ path, /** @type {string} */ where) => ({
    location: where,
    fresh: path === "fresh",
    stalenessMs: S * 1000,
    tickMs: TICK_MS,
    startOffsetMs: Math.random() * S * 1000,
    endAtMs: isolateEnd(path, startAt),
    maxTicks: Math.ceil((isolateEnd(path, startAt) - startAt) / TICK_MS) + 100,
    iss: ISS,
    jtis: JTIS,
  });

  if (RUNTIME === "workerd") {
    /** @param {Request} request */
    const kvHandler = async (request) => {
      const u = new URL(request.url);
      const kv = locationOf(u.searchParams.get("where") ?? "").kv;
      const ttlS = Number(u.searchParams.get("cacheTtl") ?? NaN);
      const bytes = kv.bytesOf(u.searchParams.get("key") ?? "", Number.isFinite(ttlS) ? ttlS * 1000 : kv.cacheTtlMs);
      return bytes === null ? new MfResponse(null, { status: 404 }) : new MfResponse(bytes);
    };
    /** @param {Request} request */
    const headHandler = async (request) => {
      const stored = await locationOf(request.headers.get("X-Sim-Location") ?? "").cache.get();
      return new MfResponse(stored.body, { status: stored.status, headers: passed(stored.headers) });
    };
    const names = [];
    /** @type {any[]} */
    const workers = [];
    for (const path of PATHS) {
      for (const loc of worlds[path].locations) {
        for (let i = 1; i <= M; i++) {
          const name = `${path}-${loc.name}-${i}`;
          names.push({ name, path, where: `${path}:${loc.name}`, i });
          workers.push({
            name,
            ...compat,
            modules: [{ type: "ESModule", path: isolateBundle }],
            modulesRoot: dirname(/** @type {string} */ (isolateBundle)),
            serviceBindings: { SIMKV: kvHandler, SIMHEAD: headHandler },
            unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
          });
        }
      }
    }
    const edge = new Miniflare(
      convertV4MiniflareOptions({
        host: "127.0.0.1",
        port: 0,
        cf: false,
        logRequests: false,
        handleStructuredLogs: () => {},
        workers,
      }),
    );
    cleanups.push(() => edge.dispose());
    await edge.ready;
    log(`edge up: ${workers.length} Workers in one workerd process, one isolate each`);
    for (const { name, path, where, i } of names) {
      const url = await edge.unsafeGetDirectURL(name);
      /** @type {Isolate} */
      const iso = {
        path,
        location: where.split(":")[1] ?? "",
        index: i,
        ready: false,
        end: null,
        error: null,
        denials: new Map(),
        done: Promise.resolve(),
      };
      iso.done = (async () => {
        try {
          const response = await fetch(url, {
            method: "POST",
            body: JSON.stringify(paramsOf(path, where)),
            signal: abort.signal,
          });
          if (!response.body) throw new Error(`isolate ${name}: no body (${response.status})`);
          let buffer = "";
          const decoder = new TextDecoder();
          for await (const chunk of response.body) {
            buffer += decoder.decode(chunk, { stream: true });
            let nl;
            while ((nl = buffer.indexOf("\n")) >= 0) {
              const line = buffer.slice(0, nl);
              buffer = buffer.slice(nl + 1);
              if (line) collect(iso, JSON.parse(line));
            }
          }
        } catch (e) {
          if (!abort.signal.aborted) iso.error ??= String(e);
        }
      })();
      isolates.push(iso);
    }
  } else {
    const { RevocationView, probeOf, headFetcher, refreshWindowMs } = /** @type {any} */ (nodeModules);
    for (const path of PATHS) {
      for (const loc of worlds[path].locations) {
        for (let i = 1; i <= M; i++) {
          const where = `${path}:${loc.name}`;
          /** @type {Isolate} */
          const iso = {
            path,
            location: loc.name,
            index: i,
            ready: false,
            end: null,
            error: null,
            denials: new Map(),
            done: Promise.resolve(),
          };
          const exportsStandIn = {
            RevocationHead: {
              fetch: async () => {
                const stored = await loc.cache.get();
                return new Response(stored.body, { status: stored.status, headers: passed(stored.headers) });
              },
            },
          };
          const fetchHead = path === "fresh" ? headFetcher({ exports: exportsStandIn }) : undefined;
          iso.done = runIsolate({
            RevocationView,
            probeOf,
            refreshWindowMs,
            kv: loc.kv,
            fetchHead,
            params: paramsOf(path, where),
            emit: (e) => collect(iso, e),
            now: () => Date.now(),
          }).catch((e) => {
            iso.error = String(e?.stack ?? e);
          });
          isolates.push(iso);
        }
      }
    }
    log(`edge: ${isolates.length} RevocationViews in this Node process`);
  }

  // Every isolate has loaded its view (its first ensureFresh vouched) before the first revoke.
  for (let i = 0; i < 400 && !isolates.every((x) => x.ready || x.error); i++) await sleep(100);
  const notReady = isolates.filter((x) => !x.ready);
  if (notReady.length > 0)
    throw new Error(
      `${notReady.length} isolates never became ready: ${notReady
        .slice(0, 3)
        .map((x) => `${x.path}-${x.location}-${x.index}: ${x.error ?? "no answer"}`)
        .join("; ")}`,
    );
  const revokeStart = Math.max(clock(), startAt + revokeLeadMs - 2_000);
  await sleep(revokeStart - clock());
  log(`revoking ${N} jti at ${RATE}/s through POST /.auth/revoke (iss ${ISS}) ...`);

  /** @type {(number | null)[]} */
  const at200 = new Array(N).fill(null);
  /** @type {string[]} */
  const revokeErrors = [];
  /** Every counter the rates are made of, at the start and at the end of the revoking phase. */
  const counters = () => ({
    at: clock(),
    origin: origin.requests,
    upper: worlds.fresh?.upper?.requests ?? 0,
    loc: Object.fromEntries(
      PATHS.flatMap((p) =>
        worlds[p].locations.map((l) => [
          `${p}:${l.name}`,
          { reads: l.cache.requests, fills: l.cache.upstreamRequests, kv: l.kv.reads },
        ]),
      ),
    ),
  });
  const before = counters();
  const revokeBegin = clock();
  for (let i = 0; i < N && clock() < hardEnd; i++) {
    await sleep(revokeBegin + (i / RATE) * 1000 - clock());
    try {
      at200[i] = (await revoke(ledger.url, /** @type {string} */ (JTIS[i]))).at;
    } catch (e) {
      revokeErrors.push(String(e));
    }
  }
  const revokeEnd = clock();
  const after = counters();
  const phaseS = (after.at - before.at) / 1000 || 1;
  const rate = (/** @type {string} */ where, /** @type {"reads" | "fills" | "kv"} */ what) =>
    (after.loc[where][what] - before.loc[where][what]) / phaseS;
  log(`revokes done (${N - revokeErrors.length} answered 200); watching ...`);

  // Each path until its isolates are done (all denied or their end), bounded by the watch windows.
  const lastWatchEnd = Math.max(...PATHS.map((p) => revokeEnd + WATCH_MS[/** @type {"fresh"|"kv"} */ (p)] + 5_000));
  let lastReport = clock();
  for (let i = 0; i < 10_000 && clock() < Math.min(lastWatchEnd, hardEnd); i++) {
    const active = isolates.filter((x) => x.end === null && x.error === null);
    if (active.length === 0) break;
    // A path is over once each of its revocations is seen by every isolate or past its window.
    const over = PATHS.every((p) => {
      const mine = isolates.filter((x) => x.path === p);
      return (
        clock() > revokeEnd + WATCH_MS[/** @type {"fresh"|"kv"} */ (p)] ||
        mine.every((x) => x.end !== null || x.denials.size === N)
      );
    });
    if (over) break;
    if (clock() - lastReport > 15_000) {
      lastReport = clock();
      const seen = (/** @type {string} */ p) =>
        isolates.filter((x) => x.path === p).reduce((a, x) => a + x.denials.size, 0);
      log(
        `t+${((clock() - revokeEnd) / 1000).toFixed(0)} s after the last revoke: ${PATHS.map((p) => `${p} ${seen(p)}/${N * L * M} denials`).join(", ")}`,
      );
    }
    await sleep(250);
  }
  // Isolates that saw everything stop by themselves within a tick: their last event, then the rest.
  for (let i = 0; i < 40 && isolates.some((x) => x.end === null && x.error === null && x.denials.size === N); i++)
    await sleep(50);
  const watchEnd = clock();
  abort.abort();
  await Promise.race([Promise.all(isolates.map((x) => x.done)), sleep(5_000)]);

  // ─── Results ──────────────────────────────────────────────────────────────────────────────────
  const fmt = (/** @type {number} */ ms) =>
    Number.isFinite(ms) ? (ms / 1000).toFixed(2) : Number.isNaN(ms) ? "—" : "unseen";
  const rows = [];
  /** @type {Record<string, number[]>} */
  const all = {};
  /** @type {Record<string, { unseen: number, notVouched: number, errors: number }>} */
  const totals = {};
  let failed = false;
  const problems = [];
  for (const path of PATHS) {
    all[path] = [];
    totals[path] = { unseen: 0, notVouched: 0, errors: 0 };
    for (const loc of worlds[path].locations) {
      const mine = isolates.filter((x) => x.path === path && x.location === loc.name);
      /** @type {number[]} */
      const lat = [];
      let unseen = 0;
      for (const iso of mine) {
        for (let i = 0; i < N; i++) {
          const t200 = at200[i];
          if (t200 === null || t200 === undefined) continue;
          const denied = iso.denials.get(i);
          const ms = denied === undefined ? Infinity : denied - t200;
          if (ms > WATCH_MS[/** @type {"fresh"|"kv"} */ (path)]) unseen++;
          else lat.push(ms);
        }
      }
      lat.sort((a, b) => a - b);
      const all99 = lat.length + unseen;
      // p99 / max over every sample: an unseen one counts as past the watch window.
      const withUnseen = [...lat, ...Array(unseen).fill(Infinity)];
      const notVouched = mine.reduce((a, x) => a + (x.end?.notVouched ?? 0), 0);
      const errors = mine.filter((x) => x.error).length;
      const p99 = quantile(withUnseen, 0.99);
      rows.push({
        location: loc.name,
        path,
        samples: all99,
        p50: quantile(withUnseen, 0.5),
        p99,
        max: withUnseen.length ? withUnseen[withUnseen.length - 1] : NaN,
        unseen,
        headFills: path === "fresh" ? rate(`${path}:${loc.name}`, "fills") : null,
        headReads: path === "fresh" ? rate(`${path}:${loc.name}`, "reads") : null,
        kvReads: rate(`${path}:${loc.name}`, "kv"),
        notVouched,
        errors,
      });
      all[path].push(...withUnseen);
      totals[path].unseen += unseen;
      totals[path].notVouched += notVouched;
      totals[path].errors += errors;
      if (path === "fresh" && !(p99 <= BOUND_MS)) {
        failed = true;
        problems.push(`${loc.name}: fresh p99 ${fmt(p99)} s > S + 1 s = ${S + 1} s`);
      }
    }
  }

  const ledgerS = (watchEnd - startAt) / 1000;
  const header = [
    `Revocation propagation, simulated: ${L} locations x ${M} isolates per path; ${N} revocations at ${RATE}/s through the real POST /.auth/revoke (iss ${ISS}).`,
    `Real: the Worker, the RevocationLedger Durable Object, its SQLite and the KV namespace (Miniflare, one workerd process); the fresh head from the real RevocationHead entrypoint;`,
    RUNTIME === "workerd"
      ? `  each simulated isolate is a separate Worker (its own workerd isolate, ${isolates.length} in a second workerd process) running the real RevocationView, probeOf and headFetcher.`
      : `  each simulated isolate is a RevocationView of the real code in THIS Node process (--runtime node: not separate workerd isolates).`,
    `Simulated: each location's Workers Cache (max-age from the head's own Cache-Control "${headerCacheControl}", misses collapsed${UPPER_TIER ? `, upper tier shared by all, Age ${HONOUR_AGE ? "honoured" : "ignored"}` : ", no upper tier"}),`,
    `  each location's KV (a write visible ${PROPAGATION_MS / 1000} s after the real namespace holds it, each read cached ${CACHE_TTL_MS / 1000} s, missing keys too), the isolates' traffic (a tick every ${TICK_MS} ms).`,
    `S = REVOCATION_MAX_STALENESS_SECONDS = ${S}; bound checked: fresh p99 <= S + 1 s = ${S + 1} s in every location. Watch windows: fresh ${WATCH_MS.fresh / 1000} s, kv ${WATCH_MS.kv / 1000} s (S + propagation + cacheTtl + margin).`,
    `Each view: ensureFresh(refreshWindowMs(S*1000, fresh), now, undefined, fetchHead) per tick, the Worker's window (S, or S - 1 s through the fresh head; random phase), revokedBy(probeOf({ iss, jti })) for every jti not yet denied.`,
  ];
  console.log(`\n${header.join("\n")}\n`);
  console.log(
    "Seconds from each revoke's 200 to the first denial in each isolate (samples = revocations x isolates).\n",
  );
  console.log(
    "| location | path | samples | p50 s | p99 s | max s | unseen | head reads/s (isolates) | head fills/s (to upstream) | KV reads/s | not vouched |",
  );
  console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const f2 = (/** @type {number | null} */ x) => (x === null ? "—" : x.toFixed(2));
  for (const path of PATHS) {
    for (const r of rows.filter((x) => x.path === path)) {
      console.log(
        `| ${r.location} | ${r.path} | ${r.samples} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.unseen} | ${f2(r.headReads)} | ${f2(r.headFills)} | ${f2(r.kvReads)} | ${r.notVouched}${r.errors ? ` (${r.errors} errors)` : ""} |`,
      );
    }
  }
  for (const path of PATHS) {
    const sorted = all[path].sort((a, b) => a - b);
    const sum = (/** @type {"reads" | "fills" | "kv"} */ what) =>
      worlds[path].locations.reduce((a, l) => a + rate(`${path}:${l.name}`, what), 0);
    const fills = path === "fresh" ? sum("fills") : null;
    const reads = path === "fresh" ? sum("reads") : null;
    const kvReads = sum("kv");
    console.log(
      `| **total** | **${path}** | ${sorted.length} | ${fmt(quantile(sorted, 0.5))} | ${fmt(quantile(sorted, 0.99))} | ${fmt(sorted[sorted.length - 1] ?? NaN)} | ${totals[path].unseen} | ${f2(reads)} | ${f2(fills)} | ${f2(kvReads)} | ${totals[path].notVouched} |`,
    );
  }
  const upper = worlds.fresh?.upper;
  const originRate = (after.origin - before.origin) / phaseS;
  console.log(
    `\nRates (/s) are over the ${phaseS.toFixed(0)} s of revoking, when every isolate of both paths is running.` +
      `\nLedger requests/s: fresh head ${originRate.toFixed(2)} (${after.origin - before.origin} in ${phaseS.toFixed(0)} s; ${origin.requests} in the whole run of ${ledgerS.toFixed(0)} s, ${origin.failures} not 200)` +
      `${upper ? `, through the upper tier (${((after.upper - before.upper) / phaseS).toFixed(2)}/s to it from the locations, ${upper.hits} hits, ${upper.collapsed} collapsed in all)` : ""}` +
      `; revokes ${(ledgerCounts.revokes / phaseS).toFixed(2)} (${ledgerCounts.revokes}); nothing else (${ledgerCounts.selfCheck} requests at start-up, the self-check). Total ${(originRate + ledgerCounts.revokes / phaseS).toFixed(2)}.` +
      `\nWithout the caches every head read would reach it: ${(PATHS.includes("fresh") ? worlds.fresh.locations.reduce((a, l) => a + rate(`fresh:${l.name}`, "reads"), 0) : 0).toFixed(2)}/s (L x M / S = ${((L * M) / S).toFixed(2)}).`,
  );
  console.log(
    `Fresh-path KV reads: ${worlds.fresh.locations.reduce((a, l) => a + l.kv.reads, 0)} in all (the cold loads). KV mirror: ${mirror.polls} polls of the real namespace, ${mirror.errors} failed.`,
  );
  const endStatus = (/** @type {string} */ p) => {
    const counts = new Map();
    for (const x of isolates.filter((y) => y.path === p))
      counts.set(x.end?.status?.path ?? "none", (counts.get(x.end?.status?.path ?? "none") ?? 0) + 1);
    return [...counts].map(([k, v]) => `${k} ${v}`).join(", ");
  };
  console.log(
    `Views' last refresh path (status().path): ${PATHS.map((p) => `${p} isolates: ${endStatus(p)}`).join("; ")}.`,
  );
  console.log(
    `Fastest denial: ${PATHS.map((p) => `${p} ${fmt(all[p]?.[0] ?? NaN)} s`).join(", ")} (below 0: denied before the revoke's 200, which the route sends after its KV write).`,
  );
  if (totals.kv)
    console.log(
      `KV-only: ${totals.kv.unseen} of ${all.kv.length} samples unseen within ${WATCH_MS.kv / 1000} s (counted as past the window in p99/max).`,
    );

  if (revokeErrors.length > 0) problems.push(`${revokeErrors.length} revokes failed: ${revokeErrors[0]}`);
  if (totals.fresh.unseen > 0)
    problems.push(`${totals.fresh.unseen} fresh-path samples unseen within ${WATCH_MS.fresh / 1000} s`);
  for (const path of PATHS)
    if (totals[path].errors > 0)
      problems.push(
        `${totals[path].errors} ${path} isolates failed: ${isolates.find((x) => x.path === path && x.error)?.error}`,
      );
  if (totals.fresh.notVouched > 0) problems.push(`fresh-path views could not vouch ${totals.fresh.notVouched} times`);
  const ok = !failed && problems.length === 0;
  console.log(
    `\n${ok ? "PASS" : "FAIL"}: fresh-path p99 <= S + 1 s = ${S + 1} s in every location${problems.length ? `\n  - ${problems.join("\n  - ")}` : ""}`,
  );
  console.log(`(run took ${((clock() - T0) / 1000).toFixed(0)} s)`);
  return ok;
}

let ok = false;
try {
  ok = await main();
} catch (e) {
  console.error(`sim:propagation failed: ${e instanceof Error ? (e.stack ?? e.message) : e}`);
} finally {
  await cleanup();
}
process.exit(ok ? 0 : 1);

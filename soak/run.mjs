// The soak (issue 7, item 3): minutes of steady load of valid tokens under `wrangler dev` while
// revocations arrive at a steady rate; it asserts that no valid token was denied, no revoked token
// passed after the bound, nothing revoked was lost, and the isolate's heap stayed flat. Prints a
// markdown table on stdout (progress on stderr), writes soak/results/<timestamp>.json, and exits 1
// when a check fails. See soak/README.md for every figure.
//
//   npm run soak                  the default run: 120 s, 32 connections, 2 revocations/s
//   npm run soak -- --quick       a smoke run: 20 s, 500 tokens
//   npm run soak -- --help        every option
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cleanupStack, rssBytes, sleep, workerdDescendants } from "../bench/lib/proc.mjs";
import { AUDIENCE, makeKeys, makeProbeTokens } from "../bench/lib/tokens.mjs";
import { ROOT } from "../bench/lib/workers.mjs";
import { missingFromFeed, denialTimes, judge, round3 } from "./lib/judge.mjs";
import { readFeed, subscribe } from "./lib/feed.mjs";
import { keepAliveAgent, now, Recorder } from "./lib/http.mjs";
import { openInspector } from "./lib/inspector.mjs";
import { pass, runLoad } from "./lib/load.mjs";
import { makePool, planRevocations, rng } from "./lib/pool.mjs";
import {
  fmtInt,
  heading,
  heapTable,
  mb,
  printDetails,
  revocationRecords,
  sec,
  table,
  writeResults,
} from "./lib/report.mjs";
import { runRevocations } from "./lib/revoker.mjs";
import { startStack } from "./lib/stack.mjs";

// wrangler would otherwise read an environment of wrangler.toml from it.
delete process.env.CLOUDFLARE_ENV;
process.env.WRANGLER_SEND_METRICS = "false";

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    duration: { type: "string" },
    connections: { type: "string" },
    rate: { type: "string" },
    tokens: { type: "string" },
    staleness: { type: "string" },
    "slack-ms": { type: "string" },
    seed: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(`npm run soak -- [options]
  --quick             smoke run: 20 s of load, 500 tokens
  --duration S        seconds of load (120; 5 to 1800)
  --connections N     concurrent connections of the load (32)
  --rate R            revocations per second (2)
  --tokens N          tokens in the pool, half of them never revoked (2000; quick 500)
  --staleness S       REVOCATION_MAX_STALENESS_SECONDS for this run (default: wrangler.toml's)
  --slack-ms MS       added to the staleness to make the bound (500)
  --seed N            the random choices of a previous run (printed at the start)`);
  process.exit(0);
}

/** @param {string | undefined} v @param {number} fallback @param {number} min @param {number} max @param {string} name */
const num = (v, fallback, min, max, name) => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`--${name}: expected a number from ${min} to ${max}, got ${v}`);
  return n;
};
const preset = flags.quick ? { duration: 20, tokens: 500 } : { duration: 120, tokens: 2000 };
const opts = {
  quick: flags.quick ?? false,
  durationS: num(flags.duration, preset.duration, 5, 1800, "duration"),
  connections: Math.round(num(flags.connections, 32, 1, 256, "connections")),
  rate: num(flags.rate, 2, 0.1, 20, "rate"),
  // Under MAX_VERIFIED_TOKENS (10 000), so that the verified-token cache settles during the warm-up.
  tokens: Math.round(num(flags.tokens, preset.tokens, 100, 9000, "tokens")),
  staleness: flags.staleness === undefined ? null : Math.round(num(flags.staleness, 5, 1, 60, "staleness")),
  slackMs: num(flags["slack-ms"], 500, 0, 10_000, "slack-ms"),
  seed: Math.round(num(flags.seed, Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31, "seed")),
};

const ADMIN_TOKEN = "soak-admin-token-000000000001";
/** The most answers kept; the load stops there (a bound on memory, far above a 30-minute run). */
const MAX_RECORDS = 5_000_000;
/** Heap growth allowed per acknowledged revocation: the view costs 83-104 bytes an entry (bench/README.md), doubled for Map growth. */
const HEAP_BYTES_PER_REVOCATION = 256;
/** Heap growth allowed besides the revocations: GC noise and late JIT code, or 10 % of the start if more. */
const HEAP_SLACK_BYTES = 1 * 2 ** 20;
const HEAP_SLACK_FRACTION = 0.1;
/** @typedef {import("./lib/inspector.mjs").HeapSample} HeapSample */
// The isolate's memory: its JS heap and the ArrayBuffers it holds outside it (request bodies).
const isolateBytes = (/** @type {HeapSample} */ s) => s.usedBytes + s.backingStoreBytes;

const started = now();
/** @param {string} line */
const log = (line) => process.stderr.write(`[soak ${((now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

const cleanups = cleanupStack(log);
const cleanup = cleanups.run;
// The whole run is bounded: start-up, warm-up and the final checks take a few minutes at most.
const HARD_LIMIT_MS = (opts.durationS + 900) * 1000;
setTimeout(() => {
  log(`still running after ${HARD_LIMIT_MS / 1000} s: giving up`);
  void cleanup().finally(() => process.exit(1));
}, HARD_LIMIT_MS).unref();

/** @returns {{ commit: string, dirty: string[] }} what was measured */
function gitState() {
  try {
    const git = (/** @type {string[]} */ args) =>
      execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const commit = git(["rev-parse", "--short", "HEAD"]).trim();
    const dirty = git(["status", "--porcelain", "--", "src", "wrangler.toml"]).split("\n").filter(Boolean);
    return { commit, dirty };
  } catch {
    return { commit: "unknown", dirty: [] };
  }
}

/** GET /.auth/health's body. @param {string} gateway @returns {Promise<any>} */
const health = async (gateway) =>
  (await fetch(`${gateway}/.auth/health`, { signal: AbortSignal.timeout(10_000) })).json();

/** The issuer, the origin and wrangler dev; the bound revocations are held to; the tokens and the revocation plan. @param {typeof opts} opts */
async function setUp(opts) {
  const random = rng(opts.seed);
  const revocationCount = Math.floor(opts.rate * opts.durationS);
  log(
    `seed ${opts.seed}; ${opts.durationS} s, ${opts.connections} connections, ${opts.rate} revocations/s (${revocationCount}), ${opts.tokens} tokens`,
  );
  const git = gitState();

  const dir = mkdtempSync(join(tmpdir(), "soak-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const keys = await makeKeys();
  const stack = await startStack({
    dir,
    jwks: keys.jwks,
    cleanups,
    log,
    vars: ({ iss, jwksUri, origin }) => ({
      ISSUERS: [{ issuer: iss, jwksUri, audiences: [AUDIENCE], algorithms: ["ES256"] }],
      ORIGIN_URL: origin,
      ADMIN_TOKENS: ADMIN_TOKEN,
      ...(opts.staleness === null ? {} : { REVOCATION_MAX_STALENESS_SECONDS: opts.staleness }),
    }),
  });
  const iss = stack.issuer.url;
  // The staleness the Worker actually runs with (wrangler.toml's unless --staleness), not the option.
  const stalenessS = (await health(stack.gateway)).revocation.maxStalenessSeconds;
  const boundMs = stalenessS * 1000 + opts.slackMs;
  log(
    `wrangler dev on ${stack.gateway} (pid ${stack.pid}); REVOCATION_MAX_STALENESS_SECONDS ${stalenessS}, bound ${sec(boundMs)}`,
  );

  const pool = await makePool({
    key: keys.keys.ES256,
    iss,
    count: opts.tokens,
    lifetimeS: opts.durationS + 3600,
    random,
  });
  const plan = planRevocations(pool, revocationCount, iss);
  const tokens = pool.tokens;
  const planned = plan.reduce((n, p) => n + p.tokens.length, 0);
  log(`${fmtInt(tokens.length)} tokens (${pool.users} users); the plan revokes ${fmtInt(planned)} of them`);
  return {
    random,
    revocationCount,
    git,
    keys,
    stack,
    iss,
    stalenessS,
    boundMs,
    pool,
    tokens,
    all: tokens.map((t) => t.i),
    plan,
  };
}
/** @typedef {Awaited<ReturnType<typeof setUp>>} Setup */

/**
 * What watches the Worker besides the answers: the inspector (opened first: see lib/inspector.mjs), the stream, the recorder.
 * @param {typeof opts} opts @param {Setup} setup
 */
async function openObservers(opts, { stack }) {
  const base = new URL(stack.gateway);
  const kick = () =>
    fetch(`${stack.gateway}/.auth/health`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.arrayBuffer());
  const workerdRss = () => rssBytes(workerdDescendants(stack.pid));
  const inspector = await openInspector({ port: stack.inspectorPort, kick, rss: workerdRss, now });
  cleanups.push(() => inspector.close());
  const stream = await subscribe(stack.gateway, ADMIN_TOKEN);
  cleanups.push(() => stream.close());

  const rec = new Recorder(MAX_RECORDS);
  const loadAgent = keepAliveAgent(opts.connections);
  const watchAgent = keepAliveAgent(16);
  cleanups.push(() => (loadAgent.destroy(), watchAgent.destroy()));
  return { base, inspector, heap: heapSampler(inspector), stream, rec, loadAgent, watchAgent };
}
/** @typedef {Awaited<ReturnType<typeof openObservers>>} Observers */

/** Heap samples by label; a failed one must not end the run, so it is logged and its error stands in the table. @param {Awaited<ReturnType<typeof openInspector>>} inspector */
function heapSampler(inspector) {
  /** @type {HeapSample[]} */
  const samples = [];
  /** @type {string | null} */
  let error = null;
  return {
    samples,
    error: () => error,
    async sample(/** @type {string} */ label) {
      try {
        const s = await inspector.heap(label);
        samples.push(s);
        log(
          `heap ${label}: ${mb(s.usedBytes)} + ${mb(s.backingStoreBytes)} ArrayBuffers (workerd RSS ${mb(s.workerdRssBytes)})`,
        );
      } catch (e) {
        error ??= e instanceof Error ? e.message : String(e);
        log(`heap ${label}: FAILED ${error}`);
      }
    },
  };
}

/** Every token answered 200 twice before anything is measured. @param {Setup} setup @param {Observers} observers */
async function warmUp({ tokens, all }, { base, loadAgent, rec }) {
  // Twice over every token: the first pass verifies and caches each one (the verified-token cache
  // then holds the whole pool, as it will for the rest of the run), the second runs the cached path.
  for (let round = 0; round < 2; round++) {
    const answers = await pass({
      ctx: { base, agent: loadAgent, rec, source: "warm" },
      tokens,
      indices: all,
      concurrency: 16,
    });
    const bad = [...answers.entries()].filter(([, a]) => a.status !== 200);
    if (bad.length > 0) {
      throw new Error(
        `warm-up: ${bad.length} of ${answers.size} fresh tokens were not answered 200, e.g. ${JSON.stringify(bad.slice(0, 3))}; nothing was soaked`,
      );
    }
  }
  log(`warm: ${fmtInt(2 * tokens.length)} requests, all 200`);
}

/** The soak's premise, that the gateway authorizes at all: four requests it must refuse. @param {Setup} setup */
async function probeRefusals({ keys, iss, stack }) {
  // Tokens it must refuse whatever else happens (bench/lib/tokens.mjs: no token, signed by a key the
  // issuer never published, expired an hour ago, for another audience); sent outside the recorder,
  // so they are judged here only.
  const probeTokens = await makeProbeTokens(keys, iss);
  /** @type {[string, string | null][]} */
  const probes = [
    ["no token", null],
    ["forged", probeTokens.forged],
    ["expired", probeTokens.expired],
    ["wrong audience", probeTokens.wrongAudience],
  ];
  /** @type {{ probe: string, status: number }[]} */
  const probeAnswers = [];
  for (const [probe, token] of probes) {
    const res = await fetch(`${stack.gateway}/orders/0`, {
      headers: token === null ? {} : { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    probeAnswers.push({ probe, status: res.status });
  }
  return probeAnswers;
}

/**
 * Load and revocations side by side, the heap sampled at the start, each quarter and the end.
 * @param {typeof opts} opts @param {Setup} setup @param {Observers} observers
 */
async function soak(
  opts,
  { stack, tokens, plan, boundMs, random, revocationCount },
  { base, heap, rec, loadAgent, watchAgent },
) {
  await heap.sample("start");
  // From here on: what the warm-up and the probes did is not counted.
  const before = {
    origin: (await stack.origin.stats()).requests,
    jwks: (await stack.issuer.stats()).jwksFetches.soak ?? 0,
    records: rec.length,
  };

  const t0 = now();
  const loadUntil = t0 + opts.durationS * 1000;
  log(`load for ${opts.durationS} s with ${revocationCount} revocations`);
  const loading = runLoad({
    ctx: { base, agent: loadAgent, rec, source: "load" },
    tokens,
    connections: opts.connections,
    untilMs: loadUntil,
    random,
  });
  const revoking = runRevocations({
    gateway: stack.gateway,
    adminToken: ADMIN_TOKEN,
    plan,
    rate: opts.rate,
    startMs: t0,
    boundMs,
    watchCtx: { base, agent: watchAgent, rec, source: "watch" },
    tokens,
    log,
  });
  for (const [fraction, label] of /** @type {const} */ ([
    [0.25, "25 %"],
    [0.5, "mid"],
    [0.75, "75 %"],
  ])) {
    const at = t0 + fraction * opts.durationS * 1000;
    while (now() < at) await sleep(Math.min(1000, at - now()));
    await heap.sample(label);
    log(`${label}: ${fmtInt(rec.length - before.records)} answers so far`);
  }
  await loading;
  const loadEnded = now();
  const revocations = await revoking;
  log(
    `load done (${fmtInt(rec.length - before.records)} answers); ${revocations.filter((r) => r.revokedAt !== null).length}/${revocations.length} revocations acknowledged`,
  );
  await heap.sample("end");
  return { before, t0, loadEnded, revocations };
}
/** @typedef {Awaited<ReturnType<typeof soak>>} Soaked */

/**
 * After the bound: the sweep, the feed, the stream, the edge's view, the origin's and the issuer's counts.
 * @param {Setup} setup @param {Observers} observers @param {Soaked} soaked
 */
async function collect(
  { stack, tokens, all, iss, boundMs },
  { base, watchAgent, rec, stream },
  { before, t0, revocations },
) {
  // Nothing lost: after the bound has passed for the last revocation, every revoked token is
  // denied and every other one passes (the sweep), every acknowledged revocation is in the feed
  // and came down the stream, and the edge's view holds the last seq.
  const lastRevokedAt = Math.max(t0, ...revocations.map((r) => r.revokedAt ?? 0));
  const sweepAt = lastRevokedAt + boundMs + 500;
  while (now() < sweepAt) await sleep(Math.min(1000, sweepAt - now()));
  const sweep = await pass({
    ctx: { base, agent: watchAgent, rec, source: "sweep" },
    tokens,
    indices: all,
    concurrency: 16,
  });
  const acked = revocations.filter((r) => r.revokedAt !== null);
  const revokedTokens = new Set(acked.flatMap((r) => r.tokens));
  const uncertainTokens = new Set(revocations.filter((r) => r.revokedAt === null).flatMap((r) => r.tokens));
  const sweepRevokedNotDenied = [...revokedTokens].filter((i) => sweep.get(i)?.status !== 401);
  const sweepValid = all.filter((i) => !revokedTokens.has(i) && !uncertainTokens.has(i));
  const sweepValidNotPassed = sweepValid.filter((i) => sweep.get(i)?.status !== 200);
  log(
    `sweep: ${revokedTokens.size - sweepRevokedNotDenied.length}/${revokedTokens.size} revoked tokens denied, ${sweepValid.length - sweepValidNotPassed.length}/${sweepValid.length} others passed`,
  );

  const feed = await readFeed(stack.gateway, ADMIN_TOKEN, acked.length);
  const lostFromFeed = missingFromFeed(revocations, feed, iss);
  await sleep(500); // the stream's frames of the last revocations are already sent; let them land
  const lostFromStream = acked
    .filter((r) => !stream.seqs.has(/** @type {number} */ (r.seq)))
    .map((r) => ({ k: r.k, seq: r.seq }));
  const view = (await health(stack.gateway)).revocation.view;
  const maxSeq = Math.max(0, ...acked.map((r) => /** @type {number} */ (r.seq)));
  const originForwarded = (await stack.origin.stats()).requests - before.origin;
  const jwksFetches = ((await stack.issuer.stats()).jwksFetches.soak ?? 0) - before.jwks;
  return {
    sweep,
    acked,
    revokedTokens,
    sweepValid,
    sweepRevokedNotDenied,
    sweepValidNotPassed,
    lostFromFeed,
    lostFromStream,
    view,
    maxSeq,
    originForwarded,
    jwksFetches,
  };
}
/** @typedef {Awaited<ReturnType<typeof collect>>} Collected */

/**
 * What the run measured, every step's result side by side.
 * @typedef {{ opts: typeof opts, probeAnswers: { probe: string, status: number }[] } & Setup & Observers & Soaked & Collected} Run
 */

/** The isolate's growth over the soak, and the most it may grow. @param {HeapSample[]} samples @param {number} ackedCount */
function heapGrowth(samples, ackedCount) {
  const start = samples.find((s) => s.label === "start");
  const end = samples.find((s) => s.label === "end");
  const growth = start && end ? isolateBytes(end) - isolateBytes(start) : NaN;
  const allowed = start
    ? Math.max(HEAP_SLACK_BYTES, HEAP_SLACK_FRACTION * isolateBytes(start)) + ackedCount * HEAP_BYTES_PER_REVOCATION
    : NaN;
  return { start, growth, allowed, isolates: new Set(samples.map((s) => s.isolateId)) };
}

/** Every recorded answer judged, and each figure of the table with the bound it is held to. @param {Run} run */
function judgeRows(run) {
  const {
    opts,
    stack,
    tokens,
    boundMs,
    stalenessS,
    inspector,
    heap,
    stream,
    rec,
    probeAnswers,
    before,
    t0,
    loadEnded,
    revocations,
  } = run;
  const {
    acked,
    revokedTokens,
    sweepValid,
    sweepRevokedNotDenied,
    sweepValidNotPassed,
    lostFromFeed,
    lostFromStream,
    view,
    maxSeq,
    originForwarded,
    jwksFetches,
  } = run;
  const verdict = judge({ rec, tokenCount: tokens.length, revocations, boundMs });
  const denial = denialTimes(revocations);
  let okSince = 0;
  for (let row = before.records; row < rec.length; row++) if (rec.status[row] === 200) okSince++;
  const loadRequests = verdict.bySource.load ?? 0;
  const loadS = (loadEnded - t0) / 1000;
  const { start, growth, allowed: heapAllowed, isolates } = heapGrowth(heap.samples, acked.length);
  const byKind = (/** @type {(r: import("./lib/revoker.mjs").RevocationResult) => boolean} */ f) =>
    ["jti", "token", "sid", "sub"]
      .map((k) => `${k} ${revocations.filter((r) => r.kind === k && f(r)).length}`)
      .join(", ");

  /** @type {import("./lib/report.mjs").Row[]} */
  const rows = [
    {
      figure: "refused before the load: no token, forged, expired, wrong audience",
      value: probeAnswers.map((p) => p.status).join(", "),
      bound: "401 each",
      ok: probeAnswers.every((p) => p.status === 401),
    },
    {
      figure: "requests (load / watch / sweep; warm-up apart)",
      value: `${fmtInt(loadRequests + (verdict.bySource.watch ?? 0) + (verdict.bySource.sweep ?? 0))} (${fmtInt(loadRequests)} / ${fmtInt(verdict.bySource.watch ?? 0)} / ${fmtInt(verdict.bySource.sweep ?? 0)}; warm-up ${fmtInt(verdict.bySource.warm ?? 0)})`,
    },
    {
      figure: "load throughput",
      value: `${fmtInt(loadRequests / loadS)} req/s over ${loadS.toFixed(0)} s, ${opts.connections} connections`,
    },
    {
      figure: "revocations sent / acknowledged (200)",
      value: `${revocations.length} / ${acked.length} (sent: ${byKind(() => true)})`,
      bound: "all acknowledged",
      ok: acked.length === revocations.length,
    },
    { figure: "tokens revoked / never revoked", value: `${fmtInt(revokedTokens.size)} / ${fmtInt(sweepValid.length)}` },
    { figure: "valid tokens denied", value: fmtInt(verdict.validDenied), bound: "0", ok: verdict.validDenied === 0 },
    {
      figure: "revoked tokens passed after the bound",
      value: fmtInt(verdict.revokedPassedAfterBound),
      bound: `0 (bound ${sec(boundMs)}: staleness ${stalenessS} s + ${opts.slackMs} ms)`,
      ok: verdict.revokedPassedAfterBound === 0,
    },
    { figure: "revoked tokens passed within the window (informational)", value: fmtInt(verdict.passesWithinWindow) },
    {
      figure: "latest pass of a revoked token, after its revoke's 200",
      value: Number.isFinite(verdict.lastPassAfterRevokeMs) ? sec(verdict.lastPassAfterRevokeMs) : "none",
      bound: `≤ ${sec(boundMs)}`,
      ok: !(verdict.lastPassAfterRevokeMs > boundMs),
    },
    {
      figure: "revoke's 200 → first denial seen (watch, every 200 ms)",
      value: `p50 ${sec(denial.p50)}, p99 ${sec(denial.p99)}, max ${sec(denial.max)} over ${denial.n}`,
      bound: "every revocation denied",
      ok: denial.neverDenied === 0 && denial.n === acked.length,
    },
    { figure: "revoked tokens denied (401 token_revoked answers)", value: fmtInt(verdict.revokedDenied) },
    {
      figure: "acknowledged revocations missing from the feed",
      value: fmtInt(lostFromFeed.length),
      bound: "0",
      ok: lostFromFeed.length === 0,
    },
    {
      figure: "acknowledged revocations missing from the stream",
      value: `${fmtInt(lostFromStream.length)}${stream.closedEarly() ? ` (stream ${stream.closedEarly()})` : ""}`,
      bound: "0",
      ok: lostFromStream.length === 0,
    },
    {
      figure: "final sweep: revoked tokens not denied",
      value: `${fmtInt(sweepRevokedNotDenied.length)} of ${fmtInt(revokedTokens.size)}`,
      bound: "0",
      ok: sweepRevokedNotDenied.length === 0,
    },
    {
      figure: "final sweep: never-revoked tokens not passed",
      value: `${fmtInt(sweepValidNotPassed.length)} of ${fmtInt(sweepValid.length)}`,
      bound: "0",
      ok: sweepValidNotPassed.length === 0,
    },
    {
      figure: "edge view after the sweep (seq, entries)",
      value: `seq ${view.seq}, ${fmtInt(view.entries)} entries (last acknowledged seq ${maxSeq}, ${acked.length} acknowledged)`,
      bound: "seq ≥ last acknowledged",
      ok: view.seq >= maxSeq,
    },
    {
      figure: "requests that reached the origin",
      value: `${fmtInt(originForwarded)} (200 answers received: ${fmtInt(okSince)})`,
      bound: "= 200 answers",
      ok: originForwarded === okSince,
    },
    {
      figure: "isolate heap after GC (JS heap + ArrayBuffers)",
      value: heap.samples.length
        ? heap.samples.map((s) => `${s.label} ${mb(isolateBytes(s))}`).join(", ")
        : `not measured: ${heap.error()}`,
    },
    {
      figure: "isolate heap growth, end − start",
      value: Number.isFinite(growth)
        ? `${growth >= 0 ? "+" : "−"}${mb(Math.abs(growth))} (${((growth / isolateBytes(/** @type {HeapSample} */ (start))) * 100).toFixed(1)} %)`
        : `not measured: ${heap.error()}`,
      bound: Number.isFinite(heapAllowed)
        ? `≤ +${mb(heapAllowed)} (max(1 MB, 10 % of start) + ${acked.length} × ${HEAP_BYTES_PER_REVOCATION} B)`
        : "",
      ok: growth <= heapAllowed,
    },
    {
      figure: "one isolate throughout; wrangler dev reloads",
      value: `${isolates.size} isolate id(s); ${stack.reloads()} reload(s)`,
      bound: "1; 0",
      ok: isolates.size <= 1 && stack.reloads() === 0,
    },
    {
      figure: "connection errors (no HTTP answer)",
      value: `${fmtInt(verdict.connectionErrors)} (stale keep-alive sockets retried: ${rec.staleSocketRetries})`,
      bound: "0",
      ok: verdict.connectionErrors === 0,
    },
    {
      figure: "unexpected answers for revoked tokens",
      value: fmtInt(verdict.unexpected),
      bound: "0",
      ok: verdict.unexpected === 0,
    },
    {
      figure: "uncaught exceptions in the Worker's isolate",
      value: fmtInt(inspector.exceptions().length),
      bound: "0",
      ok: inspector.exceptions().length === 0,
    },
    { figure: "JWKS fetches during the soak", value: fmtInt(jwksFetches) },
  ];
  return { verdict, denial, okSince, heapAllowed, rows, failed: rows.filter((r) => r.ok === false) };
}
/** @typedef {ReturnType<typeof judgeRows>} Judged */

/**
 * The tables and the details of any failure on stdout, the whole run in soak/results/, the verdict last.
 * @param {Run} run @param {Judged} judged
 */
function report(run, { verdict, denial, okSince, heapAllowed, rows, failed }) {
  const {
    opts,
    git,
    stalenessS,
    boundMs,
    tokens,
    pool,
    heap,
    t0,
    probeAnswers,
    inspector,
    stack,
    stream,
    revocations,
  } = run;
  const {
    sweep,
    sweepRevokedNotDenied,
    sweepValidNotPassed,
    lostFromFeed,
    lostFromStream,
    view,
    originForwarded,
    jwksFetches,
  } = run;
  const header = heading(opts, { tokens: tokens.length, stalenessS, git });
  const markdown = ["", header, "", table(rows), "", heapTable(heap.samples, t0), ""].join("\n");
  console.log(markdown);
  const exceptions = inspector.exceptions();
  const notable = stack.notable();
  printDetails({
    examples: verdict.examples,
    lostFromFeed,
    lostFromStream,
    sweep,
    revokedNotDenied: sweepRevokedNotDenied,
    validNotPassed: sweepValidNotPassed,
    exceptions,
    wranglerOutput: failed.length > 0 ? notable : [],
    revocations,
  });

  const file = writeResults(ROOT, git, {
    options: opts,
    stalenessS,
    boundMs,
    tokens: tokens.length,
    users: pool.users,
    passed: failed.length === 0,
    failed: failed.map((r) => r.figure),
    rows,
    verdict,
    denial,
    heap: heap.samples.map((s) => ({ ...s, atS: round3((s.atMs - t0) / 1000) })),
    heapError: heap.error(),
    heapAllowedBytes: heapAllowed,
    probeAnswers,
    exceptions,
    wranglerOutput: notable,
    lostFromFeed,
    lostFromStream,
    streamClosedEarly: stream.closedEarly(),
    view,
    originForwarded,
    okAnswersSinceWarm: okSince,
    jwksFetches,
    sweep: { revokedNotDenied: sweepRevokedNotDenied, validNotPassed: sweepValidNotPassed },
    revocations: revocationRecords(revocations, t0),
    markdown,
  });
  console.log(`Raw results: ${file.slice(ROOT.length)} (${((now() - started) / 1000).toFixed(0)} s in all)`);
  console.log(failed.length === 0 ? "SOAK PASSED" : `SOAK FAILED: ${failed.map((r) => r.figure).join("; ")}`);
}

/** The run, step by step. @returns {Promise<boolean>} whether every check held */
async function main() {
  const setup = await setUp(opts);
  const observers = await openObservers(opts, setup);
  await warmUp(setup, observers);
  const probeAnswers = await probeRefusals(setup);
  const soaked = await soak(opts, setup, observers);
  const collected = await collect(setup, observers, soaked);
  const run = { opts, probeAnswers, ...setup, ...observers, ...soaked, ...collected };
  const judged = judgeRows(run);
  report(run, judged);
  return judged.failed.length === 0;
}

let passed = false;
try {
  passed = await main();
} catch (e) {
  console.error(`soak failed to run: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
} finally {
  await cleanup();
}
process.exit(passed ? 0 : 1);

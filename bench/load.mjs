// The load benchmark (issue 6): the project against a pass-through Worker, a minimal jose Worker
// and hono/jwk, each bundled by `wrangler deploy --dry-run` and run by Miniflare with a direct
// socket, in interleaved rounds, on the same origin and the same tokens. Prints the tables and
// writes the raw rounds to bench/results/<timestamp>.json. See bench/README.md.
//
//   npm run bench                  the full run (a few minutes)
//   npm run bench -- --quick       a smoke run (1 s rounds, one round, fewer tokens)
//   npm run bench -- --help        every option
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { coldStarts, isolateMemory } from "./lib/cold.mjs";
import { underWranglerDev } from "./lib/dev.mjs";
import { probe } from "./lib/probe.mjs";
import { CLK_TCK, cleanupStack, pinTo } from "./lib/proc.mjs";
import { runRound, warm } from "./lib/round.mjs";
import { seedRevocations, viewStatus } from "./lib/seed.mjs";
import { startOriginAndIssuer } from "./lib/servers.mjs";
import {
  goals,
  goalsTable,
  JOSE,
  latencySummary,
  mainTable,
  PASS,
  PROJECT_EMPTY,
  PROJECT_LOGGED,
  projectFull,
  smallTable,
  summarize,
  fmtInt,
} from "./lib/table.mjs";
import { AUDIENCE, makeKeys, makeProbeTokens, makeWorkloads, mintMany, SCOPE } from "./lib/tokens.mjs";
import { bundle, CONFIGS, ROOT, startWorker } from "./lib/workers.mjs";

// wrangler would otherwise read an environment of wrangler.toml from it.
delete process.env.CLOUDFLARE_ENV;

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    duration: { type: "string" },
    connections: { type: "string" },
    "distinct-es256": { type: "string" },
    "distinct-rs256": { type: "string" },
    revocations: { type: "string" },
    "cold-reps": { type: "string" },
    "revoke-count": { type: "string" },
    "no-dev": { type: "boolean", default: false },
    "no-pin": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(`npm run bench -- [options]
  --quick               smoke run: 1 round of 1 s, 5 000 / 4 000 distinct tokens, 1 cold start, 10 revocations
  --rounds N            interleaved rounds per workload and target (6)
  --duration S          seconds per round (1)
  --connections N       concurrent connections of the load generator (8)
  --distinct-es256 N    tokens of the "distinct" ES256 workload (100000)
  --distinct-rs256 N    tokens of the "distinct" RS256 workload (40000; RS256 signing is slow)
  --revocations N       active revocations loaded into the second project target (100000)
  --cold-reps N         cold-isolate first requests per case (3)
  --revoke-count N      revocations timed under wrangler dev (50)
  --no-dev              skip everything under wrangler dev (revocation latency, dev overhead)
  --no-pin              do not pin the targets to a CPU of their own during the load rounds`);
  process.exit(0);
}

const preset = flags.quick
  ? {
      rounds: 1,
      duration: 1,
      connections: 8,
      es256: 5_000,
      rs256: 4_000,
      revocations: 100_000,
      coldReps: 1,
      revokeCount: 10,
      warmAmount: 200,
    }
  : {
      rounds: 6,
      duration: 1,
      connections: 8,
      es256: 100_000,
      rs256: 40_000,
      revocations: 100_000,
      coldReps: 3,
      revokeCount: 50,
      warmAmount: 500,
    };
/** @param {string | undefined} v @param {number} fallback @param {number} min @param {number} max */
const num = (v, fallback, min, max) => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`expected a number from ${min} to ${max}, got ${v}`);
  return n;
};
const opts = {
  quick: flags.quick ?? false,
  rounds: num(flags.rounds, preset.rounds, 1, 20),
  // autocannon counts whole seconds.
  durationS: Math.round(num(flags.duration, preset.duration, 1, 60)),
  connections: num(flags.connections, preset.connections, 1, 512),
  distinct: {
    ES256: num(flags["distinct-es256"], preset.es256, 1_000, 1_000_000),
    RS256: num(flags["distinct-rs256"], preset.rs256, 1_000, 1_000_000),
  },
  revocations: num(flags.revocations, preset.revocations, 1, 500_000),
  coldReps: num(flags["cold-reps"], preset.coldReps, 0, 20),
  revokeCount: num(flags["revoke-count"], preset.revokeCount, 0, 500),
  dev: !flags["no-dev"],
  pin: !flags["no-pin"],
};

const ADMIN_TOKEN = "bench-admin-token-0000000001";
const FULL = projectFull(opts.revocations);
const HONO = "hono/jwk";
const started = Date.now();
/** @param {string} line */
const log = (line) =>
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);

const cleanups = cleanupStack(log);
const cleanup = cleanups.run;

async function main() {
  const setup = await setUp();
  const targets = await startTargets(setup);
  const pinning = pinTargets(targets, setup);
  await seedAndWarm(targets, setup);
  const probeResults = await probeTargets(targets, setup);
  const rounds = await loadRounds(targets, setup);
  pinning.unpin();
  const spoofedAfter = (await setup.origin.stats()).spoofed;
  const { cold, memory } = await coldAndMemory(setup);
  // The targets are done: stop them before wrangler dev, so it runs alone.
  for (const t of targets) await t.dispose().catch(() => {});
  const dev = await devFigures(setup);
  const { rows, goalItems, markdown } = printTables({
    setup,
    targets,
    rounds,
    cold,
    memory,
    dev,
    pinned: pinning.pinned,
  });
  writeRaw({ setup, targets, probeResults, spoofedAfter, rounds, rows, goalItems, cold, memory, dev, markdown });
}

/** What every target shares, so that only the Worker differs between them: the bundles, the keys, the origin and the issuer, the tokens. */
async function setUp() {
  const tmp = mkdtempSync(join(tmpdir(), "bench-load-"));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  log("bundling the four Workers with wrangler deploy --dry-run; minting tokens");
  const bundling = bundleAll(tmp);
  const keys = await makeKeys();
  const { origin, issuer } = await startOriginAndIssuer(keys.jwks, cleanups);
  const iss = issuer.url;
  const [entries, workloads, probeTokens] = await Promise.all([
    bundling,
    makeWorkloads(keys, iss, opts.distinct),
    makeProbeTokens(keys, iss),
  ]);
  log(`tokens: ${workloads.map((w) => `${w.name} (${fmtInt(w.tokens.length)})`).join(", ")}`);
  // The goals are stated on it; the cold isolates, the memory and wrangler dev's overhead use it too.
  const headline = /** @type {import("./lib/round.mjs").Workload} */ (
    workloads.find((w) => w.kind === "cycled" && w.alg === "ES256")
  );
  return { keys, origin, issuer, iss, entries, workloads, probeTokens, headline };
}
/** @typedef {Awaited<ReturnType<typeof setUp>>} Setup */

/** The bundles as `wrangler deploy` would upload them, by CONFIGS key, two builds at a time. @param {string} tmp */
async function bundleAll(tmp) {
  /** @type {Record<string, string>} */
  const entries = {};
  for (const pair of [
    ["passthrough", "jose"],
    ["hono-jwk", "project"],
  ]) {
    const done = await Promise.all(
      pair.map((k) => bundle(CONFIGS[/** @type {keyof typeof CONFIGS} */ (k)], join(tmp, k))),
    );
    pair.forEach((k, i) => (entries[k] = /** @type {string} */ (done[i])));
  }
  return entries;
}

/** The project's vars; `label` gives each instance a JWKS URL of its own, so that its JWKS fetches are counted apart. @param {Setup} setup @param {string} label */
function projectVars({ origin, issuer, iss }, label) {
  return {
    ORIGIN_URL: origin.url,
    ISSUERS: [{ issuer: iss, jwksUri: issuer.jwksUri(label), audiences: [AUDIENCE], algorithms: ["ES256", "RS256"] }],
    POLICY: { routes: [{ path: "/api/*", require: { scopes: [SCOPE] } }] },
    ADMIN_TOKENS: ADMIN_TOKEN,
    // Allowed requests unlogged, as the README advises under load: a console line costs more CPU
    // than the whole authorization. The PROJECT_LOGGED target measures what logging them costs.
    LOG_DECISIONS: "denials",
  };
}

/** The jose and hono/jwk Workers' vars, with a JWKS URL of their own as the project's. @param {Setup} setup @param {string} label */
function peerVars({ origin, issuer, iss }, label) {
  return { ORIGIN_URL: origin.url, JWKS_URI: issuer.jwksUri(label), ISSUER: iss, AUDIENCE };
}

/** The targets, one Miniflare each, so that each has workerd processes of its own to read CPU time from. @param {Setup} setup */
async function startTargets(setup) {
  const { origin, entries } = setup;
  const specs = [
    {
      name: PASS,
      key: "passthrough",
      worker: "passthrough",
      vars: { ORIGIN_URL: origin.url },
      jwksLabel: null,
      project: false,
      authorizing: false,
      revocations: false,
    },
    {
      name: JOSE,
      key: "jose",
      worker: "jose",
      vars: peerVars(setup, "jose"),
      jwksLabel: "jose",
      project: false,
      authorizing: true,
      revocations: false,
    },
    {
      name: HONO,
      key: "hono-jwk",
      worker: "hono-jwk",
      vars: peerVars(setup, "hono"),
      jwksLabel: "hono",
      project: false,
      authorizing: true,
      revocations: false,
    },
    {
      name: PROJECT_EMPTY,
      key: "project",
      worker: "project-empty",
      vars: projectVars(setup, "project-empty"),
      jwksLabel: "project-empty",
      project: true,
      authorizing: true,
      revocations: false,
    },
    {
      name: FULL,
      key: "project",
      worker: "project-full",
      vars: projectVars(setup, "project-full"),
      jwksLabel: "project-full",
      project: true,
      authorizing: true,
      revocations: true,
    },
    {
      name: PROJECT_LOGGED,
      key: "project",
      worker: "project-logged",
      vars: { ...projectVars(setup, "project-logged"), LOG_DECISIONS: "all" },
      jwksLabel: "project-logged",
      project: true,
      authorizing: true,
      revocations: false,
      /** On the headline workload only: what a log line per allowed request costs. */
      only: (/** @type {{ kind: string, alg: string }} */ w) => w.kind === "cycled" && w.alg === "ES256",
    },
  ];
  /** @type {((typeof specs)[number] & import("./lib/workers.mjs").Running)[]} */
  const targets = [];
  for (const spec of specs) {
    const running = await startWorker({
      name: spec.worker,
      config: CONFIGS[/** @type {keyof typeof CONFIGS} */ (spec.key)],
      entry: /** @type {string} */ (entries[spec.key]),
      vars: spec.vars,
    });
    cleanups.push(() => running.dispose());
    if (running.pids.length === 0) throw new Error(`no workerd process found for ${spec.name}`);
    targets.push({ ...spec, ...running, name: spec.name });
  }
  log(`targets up: ${targets.map((t) => `${t.name} (${t.url.host}, workerd ${t.pids.join(",")})`).join("; ")}`);
  return targets;
}
/** @typedef {Awaited<ReturnType<typeof startTargets>>[number]} Target */

/**
 * The targets' workerd on the last CPU, everything else this run started (the load generator,
 * which is this process, the origin and the issuer) on the others: a target's CPU per request
 * then no longer depends on how the scheduler interleaves it with the load generator, which
 * varied it by tens of µs from round to round (bench/README.md, "Pinning"). `unpin` undoes it
 * after the load rounds, so that what follows (cold isolates, wrangler dev) runs on every CPU.
 * @param {Target[]} targets @param {Setup} setup
 */
function pinTargets(targets, { origin, issuer }) {
  const cpuCount = cpus().length;
  const all = `0-${cpuCount - 1}`;
  const helpers = [process.pid, origin.pid, issuer.pid];
  const targetPids = targets.flatMap((t) => t.pids);
  const pinned =
    opts.pin &&
    cpuCount >= 2 &&
    pinTo(targetPids, String(cpuCount - 1)) &&
    pinTo(helpers, cpuCount === 2 ? "0" : `0-${cpuCount - 2}`);
  cleanups.push(() => pinTo(helpers, all));
  if (opts.pin && !pinned) pinTo([...targetPids, ...helpers], all); // all or nothing
  log(
    pinned
      ? `pinned: targets on CPU ${cpuCount - 1}, load generator, origin and issuer on the others`
      : "not pinned (--no-pin, one CPU, or no taskset)",
  );
  return {
    pinned,
    unpin: () => {
      if (pinned) pinTo(helpers, all);
    },
  };
}

/** The state every measured round starts from: the revocations loaded, every target warm, each project's view as large as it should be. @param {Target[]} targets @param {Setup} setup */
async function seedAndWarm(targets, { iss, probeTokens, workloads, issuer, origin }) {
  const full = /** @type {Target} */ (targets.find((t) => t.name === FULL));
  const seedStarted = Date.now();
  await seedRevocations(full, { count: opts.revocations, iss, revokedJti: probeTokens.revokedJti });
  log(`seeded ${fmtInt(opts.revocations)} revocations into ${FULL}'s KV (${Date.now() - seedStarted} ms)`);
  const warmTokens = workloads.filter((w) => w.kind === "cycled");
  for (const t of targets) {
    const warmStarted = Date.now();
    for (const w of warmTokens) {
      const statuses = await warm(t.url, w.tokens, preset.warmAmount);
      if (Object.keys(statuses).some((s) => s !== "200"))
        throw new Error(`${t.name} answered ${JSON.stringify(statuses)} while warming with ${w.name}`);
    }
    log(`warmed ${t.name} (${Date.now() - warmStarted} ms)`);
  }
  // One unmeasured round per target, so that the first measured round finds every process warm
  // (the target's JIT, the origin's, the load generator's).
  for (const t of targets) {
    await runRound({
      target: t,
      workload: /** @type {(typeof workloads)[number]} */ (warmTokens[0]),
      round: 0,
      cursor: { next: 0 },
      connections: opts.connections,
      durationS: 1,
      issuer,
      origin,
    });
  }
  for (const t of targets.filter((x) => x.project)) {
    const view = await viewStatus(t.url);
    const want = t.revocations ? opts.revocations : 0;
    if (view.entries !== want)
      throw new Error(
        `${t.name}: its revocation view holds ${view.entries} entries, not ${want} (${JSON.stringify(view)})`,
      );
  }
  log(`warm; ${FULL}'s view holds ${fmtInt(opts.revocations)} entries (GET /.auth/health)`);
}

/** Correctness before speed: a target that lets a bad token through has no figures worth taking, so no load is run. @param {Target[]} targets @param {Setup} setup */
async function probeTargets(targets, { probeTokens, origin }) {
  const probeResults = await probe(targets, probeTokens, origin);
  const failed = probeResults.filter((r) => !r.ok);
  for (const r of failed) log(`PROBE FAILED: ${r.target}: ${r.check}: want ${r.want}, got ${r.got}`);
  if (failed.length > 0) throw new Error(`${failed.length} probe check(s) failed; no load was run`);
  log(
    `probe: ${probeResults.length} checks passed (forged, expired, wrong audience -> 401; spoofed X-Auth-Subject never reached the origin)`,
  );
  return probeResults;
}

/**
 * The measured rounds: for each round and workload, the pass-through, every other target in turn
 * (the order rotates from round to round), then the pass-through again; a target's figures are read
 * against the mean of the two pass-through slots around it, so that a machine that slows down or
 * speeds up during the round (other tenants) cancels out.
 * @param {Target[]} targets @param {Setup} setup
 */
async function loadRounds(targets, { workloads, issuer, origin }) {
  /** @type {import("./lib/round.mjs").RoundResult[]} */
  const rounds = [];
  /** @type {Map<string, { next: number }>} */
  const cursors = new Map();
  const pass = /** @type {Target} */ (targets.find((t) => t.name === PASS));
  const others = targets.filter((t) => t !== pass);
  const total =
    opts.rounds *
    workloads.reduce((n, w) => n + 2 + others.filter((t) => !("only" in t && t.only) || t.only(w)).length, 0);
  for (let round = 1; round <= opts.rounds; round++) {
    for (const w of workloads) {
      const rotated = others.map((_, i) => /** @type {Target} */ (others[(i + round - 1) % others.length]));
      for (const t of [pass, ...rotated, pass]) {
        if ("only" in t && t.only && !t.only(w)) continue;
        const key = `${t.name}|${w.name}`;
        if (!cursors.has(key)) cursors.set(key, { next: 0 });
        const r = await runRound({
          target: t,
          workload: w,
          round,
          cursor: /** @type {{ next: number }} */ (cursors.get(key)),
          connections: opts.connections,
          durationS: opts.durationS,
          issuer,
          origin,
        });
        rounds.push(r);
        const bad = Object.values(r.non2xx).reduce((a, b) => a + b, 0) + r.errors;
        log(
          `${rounds.length}/${total} r${round} ${w.name} · ${t.name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99.toFixed(2)} ms, ${r.cpuUsPerReq.toFixed(0)} µs CPU/req${bad ? `, ${bad} non-2xx/errors ${JSON.stringify(r.non2xx)}` : ""}`,
        );
      }
    }
  }
  return rounds;
}

/** Cold isolates and memory, in Miniflare instances of their own, so that no warm target's state is measured. @param {Setup} setup */
async function coldAndMemory(setup) {
  const { entries, iss, probeTokens, issuer, headline } = setup;
  /** @param {string} label @param {number} [inspectorPort] */
  const startProject = (label, inspectorPort) =>
    startWorker({
      name: label,
      config: CONFIGS.project,
      entry: /** @type {string} */ (entries.project),
      vars: projectVars(setup, label),
      ...(inspectorPort ? { inspectorPort } : {}),
    });
  const seedFull = (/** @type {import("./lib/workers.mjs").Running} */ t) =>
    seedRevocations(t, { count: opts.revocations, iss, revokedJti: probeTokens.revokedJti });
  log("cold isolates and memory");
  /** @type {any} */
  let cold;
  try {
    cold = {
      empty: await coldStarts({
        start: startProject,
        seed: null,
        tokens: headline.tokens,
        issuer,
        reps: opts.coldReps,
        label: "cold-empty",
      }),
      full: await coldStarts({
        start: startProject,
        seed: seedFull,
        tokens: headline.tokens,
        issuer,
        reps: opts.coldReps,
        label: "cold-full",
      }),
    };
  } catch (e) {
    cold = { error: failure("cold-isolate measurement", e), empty: [], full: [] };
  }
  /** @type {any} */
  let memory;
  try {
    memory = {
      empty: await isolateMemory({ start: startProject, seed: null, tokens: headline.tokens, label: "mem-empty" }),
      full: await isolateMemory({ start: startProject, seed: seedFull, tokens: headline.tokens, label: "mem-full" }),
    };
    if (memory.full.entries !== opts.revocations)
      throw new Error(`the view held ${memory.full.entries} entries, not ${opts.revocations}`);
  } catch (e) {
    memory = { error: failure("memory measurement", e) };
  }
  return { cold, memory };
}

/** Under wrangler dev: revocation latency (default staleness) and the dev tooling's overhead; null with --no-dev. @param {Setup} setup @returns {Promise<any>} */
async function devFigures(setup) {
  if (!opts.dev) return null;
  log(`wrangler dev: dev overhead round, then ${opts.revokeCount} revocations`);
  try {
    const revokeTokens = await mintMany(setup.keys.keys.ES256, setup.iss, opts.revokeCount, "revoke");
    return await underWranglerDev({
      issuer: setup.issuer,
      origin: setup.origin,
      adminToken: ADMIN_TOKEN,
      revokeTokens,
      concurrency: Math.min(10, Math.max(1, Math.ceil(opts.revokeCount / 2))),
      vars: projectVars(setup, "dev"),
      overheadWorkload: setup.headline,
      connections: opts.connections,
      durationS: opts.durationS,
      log,
    });
  } catch (e) {
    return { error: failure("wrangler dev phase", e) };
  }
}

/** A phase after the load rounds failed: logged, and its first line kept for its row, since the load figures stand on their own and must not be lost with it. @param {string} phase @param {unknown} e */
function failure(phase, e) {
  log(`${phase} failed: ${e instanceof Error ? e.message : String(e)}`);
  return e instanceof Error ? e.message.split("\n")[0] : String(e);
}

/**
 * The report on stdout: the load table, the cold/memory/dev table, then the goals they are judged against.
 * @param {{ setup: Setup, targets: Target[], rounds: import("./lib/round.mjs").RoundResult[], cold: any, memory: any, dev: any, pinned: boolean }} o
 */
function printTables({ setup, targets, rounds, cold, memory, dev, pinned }) {
  const { workloads, headline } = setup;
  const rows = summarize(
    rounds,
    workloads.map((w) => w.name),
    targets.map((t) => t.name),
  );
  const distinctNames = workloads.filter((w) => w.kind === "distinct").map((w) => w.name);
  const goalItems = goals(rounds, rows, { headline: headline.name, distinct: distinctNames, full: FULL });
  const extras = extraFigures({ cold, memory, dev, rows, headline: headline.name, revocations: opts.revocations });
  const markdown = [
    "",
    header(pinned),
    "",
    mainTable(rows),
    "",
    smallTable(extras),
    "",
    goalsTable(goalItems),
    "",
  ].join("\n");
  console.log(markdown);
  return { rows, goalItems, markdown };
}

/** How the figures were taken, above the tables, so that they are not quoted without it. @param {boolean} pinned */
function header(pinned) {
  return `Load: ${opts.rounds} interleaved round(s) of ${opts.durationS} s per workload and target, ${opts.connections} connections (autocannon); medians over rounds, each figure first taken against the mean of the two pass-through slots around it in the same round.${pinned ? " Targets pinned to a CPU of their own." : " Not pinned."} CPU: utime+stime of the target's workerd process from /proc (${CLK_TCK} ticks/s). Machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")} at the end.${opts.quick ? " QUICK RUN: smoke test only, not for quoting." : ""}`;
}

/**
 * The raw rounds and all they were read with, in bench/results/<timestamp>.json, so that a run can be read again or compared later.
 * @param {{
 *   setup: Setup, targets: Target[], probeResults: Awaited<ReturnType<typeof probe>>, spoofedAfter: number,
 *   rounds: import("./lib/round.mjs").RoundResult[], rows: import("./lib/table.mjs").Row[], goalItems: ReturnType<typeof goals>,
 *   cold: any, memory: any, dev: any, markdown: string,
 * }} o
 */
function writeRaw({
  setup,
  targets,
  probeResults,
  spoofedAfter,
  rounds,
  rows,
  goalItems,
  cold,
  memory,
  dev,
  markdown,
}) {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = join(ROOT, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${stamp}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        node: process.version,
        clkTck: CLK_TCK,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        loadavg: loadavg(),
        options: opts,
        workloads: setup.workloads.map((w) => ({ name: w.name, alg: w.alg, kind: w.kind, tokens: w.tokens.length })),
        targets: targets.map((t) => ({
          name: t.name,
          worker: t.worker,
          config: CONFIGS[/** @type {keyof typeof CONFIGS} */ (t.key)],
        })),
        probe: probeResults,
        spoofedAtOriginAfterLoad: spoofedAfter,
        rounds,
        rows,
        goals: goalItems,
        cold,
        memory,
        dev,
        markdown,
      },
      null,
      2,
    ),
  );
  console.log(`Raw rounds: ${file.slice(ROOT.length)} (${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
}

/**
 * The second table: cold isolates, memory, and what was measured under wrangler dev.
 * @param {{ cold: any, memory: any, dev: any, rows: import("./lib/table.mjs").Row[], headline: string, revocations: number }} o
 */
function extraFigures({ cold, memory, dev, rows, headline, revocations }) {
  const ms = (/** @type {number} */ x) => `${x.toFixed(1)} ms`;
  const mb = (/** @type {number} */ b) => `${(b / 2 ** 20).toFixed(1)} MB`;
  const med = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;
  /** @param {any[]} runs */
  const coldText = (runs) => {
    if (runs.length === 0) return "not run";
    const bad = runs.filter((r) => r.firstStatus !== 200 || r.secondStatus !== 200).length;
    return `first request ${ms(med(runs.map((r) => r.firstMs)))} (median of ${runs.length}; ${runs.map((r) => r.firstMs.toFixed(0)).join(", ")} ms), JWKS fetches ${runs.map((r) => r.jwksFetches).join(", ")}; the next request ${ms(med(runs.map((r) => r.secondMs)))}${bad ? `; ${bad} not 200!` : ""}`;
  };
  const items = cold.error
    ? [{ label: "cold isolate", value: `failed: ${cold.error}` }]
    : [
        { label: "cold isolate, no revocations", value: coldText(cold.empty) },
        { label: `cold isolate, ${fmtInt(revocations)} revocations in KV`, value: coldText(cold.full) },
      ];
  if (memory.error) {
    items.push({ label: "isolate memory", value: `failed: ${memory.error}` });
  } else {
    items.push(
      {
        label: "isolate heap after GC, no revocations",
        value: `${mb(memory.empty.heapUsedBytes)} (workerd RSS ${mb(memory.empty.rssBytes)})`,
      },
      {
        label: `isolate heap after GC, ${fmtInt(revocations)} revocations loaded`,
        value: `${mb(memory.full.heapUsedBytes)} (+${mb(memory.full.heapUsedBytes - memory.empty.heapUsedBytes)}, ${((memory.full.heapUsedBytes - memory.empty.heapUsedBytes) / revocations).toFixed(0)} bytes per entry; workerd RSS ${mb(memory.full.rssBytes)})`,
      },
    );
  }
  if (dev?.error) {
    items.push({ label: "under wrangler dev", value: `failed: ${dev.error}` });
  } else if (dev) {
    const l = latencySummary(dev.latenciesMs);
    items.push({
      label: `revocation latency under wrangler dev (staleness ${dev.stalenessS} s): revoke's 200 → first 401`,
      value: `p50 ${ms(l.p50)}, p99 ${ms(l.p99)} over ${l.n} revocations${l.missed ? `, ${l.missed} not denied within the bound!` : ""}`,
    });
    const direct = rows.find((r) => r.workload === headline && r.target === PROJECT_EMPTY);
    if (dev.overhead && direct) {
      items.push({
        label: `wrangler dev vs the same Worker direct (${headline}, one round; not a target)`,
        value: `${fmtInt(dev.overhead.rps)} req/s vs ${fmtInt(direct.rps)} (${(direct.rps / dev.overhead.rps).toFixed(1)}× slower); ${fmtInt(dev.overhead.cpuUsPerReq)} vs ${fmtInt(direct.cpu)} µs CPU/req (${(dev.overhead.cpuUsPerReq / direct.cpu).toFixed(1)}×)`,
      });
    }
  }
  return items;
}

try {
  await main();
} catch (e) {
  console.error(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}

// bench:revocations in workerd: a cold isolate's first request with 0, 100 000 and 1 000 000 active
// revocations in KV, before and after the compact index, in one run. "after" is this tree's Worker
// (wrangler.toml, src/), "before" the Worker as of an older commit, extracted with `git archive` into a
// scratch folder (its node_modules a link to this tree's) and bundled from there with its own
// wrangler.toml. Each cell is the project in a new Miniflare (a new workerd, so a cold isolate: no
// JWKS, no key, no revocation view), its REVOCATIONS KV seeded in that version's layout, then one
// request with a valid token on an eventual route (it loads the view) and one more (warm), as
// bench/load.mjs's cold isolates (bench/lib/cold.mjs). The cells are interleaved rep by rep, so a
// machine that slows down mid-run weighs on every cell alike. Then, unless turned off, the isolate's
// memory after a full GC per cell, over the inspector (JS heap and ArrayBuffers: "after" keeps the
// records in ArrayBuffers, outside the JS heap).
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { coldStarts, isolateMemory } from "./cold.mjs";
import { LOAD_PATH } from "./round.mjs";
import { seedEntries, seedRevocations, viewStatus } from "./seed.mjs";
import { startOriginAndIssuer } from "./servers.mjs";
import { AUDIENCE, makeKeys, mint, mintMany, SCOPE } from "./tokens.mjs";
import { bundle, CONFIGS, extractTree, startWorker } from "./workers.mjs";

const ADMIN_TOKEN = "bench-admin-token-0000000001";

/**
 * The "before" layout (the older tree's src/revocation/kv-layout.ts, bundled): JSON snapshot chunks of
 * SNAPSHOT_CHUNK_ENTRIES entries, then the head naming them, then the version, as that tree's
 * bench/lib/seed.mjs wrote them.
 * @param {string} treeRoot
 */
async function beforeSeeder(treeRoot) {
  const dir = mkdtempSync(join(tmpdir(), "bench-layout-before-"));
  let layout;
  try {
    await build({
      entryPoints: [join(treeRoot, "src/revocation/kv-layout.ts")],
      bundle: true,
      format: "esm",
      platform: "neutral",
      outdir: dir,
      logLevel: "error",
    });
    layout = await import(pathToFileURL(join(dir, "kv-layout.js")).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  /**
   * @param {import("./workers.mjs").Running} target
   * @param {{ count: number, iss: string, revokedJti: string }} options
   */
  return async (target, { count, iss, revokedJti }) => {
    const kv = /** @type {{ put: (key: string, value: string) => Promise<void> }} */ (
      /** @type {unknown} */ (await target.mf.getKVNamespace("REVOCATIONS"))
    );
    const all = seedEntries(count, iss, revokedJti);
    const per = layout.SNAPSHOT_CHUNK_ENTRIES;
    const chunks = Math.ceil(count / per);
    for (let i = 0; i < chunks; i++)
      await kv.put(layout.snapshotKey(count, i), JSON.stringify(all.slice(i * per, (i + 1) * per)));
    await kv.put(
      layout.HEAD_KEY,
      JSON.stringify({ seq: count, snapshot: { seq: count, chunks }, segments: [], tail: [] }),
    );
    await kv.put(layout.VERSION_KEY, String(count));
  };
}

/**
 * A seeder that runs `seed` once per size against a recording KV, then writes what it wrote, in the
 * same order, to each instance of that size: hashing and sorting 1 000 000 entries (after) takes
 * seconds, and a cell is started several times.
 * @param {(target: any, options: { count: number, iss: string, revokedJti: string }) => Promise<void>} seed
 */
function replaying(seed) {
  /** @type {Map<number, [string, string | Uint8Array][]>} */
  const recorded = new Map();
  /** @param {{ count: number, iss: string, revokedJti: string }} options */
  const prepare = async (options) => {
    let puts = recorded.get(options.count);
    if (!puts) {
      const list = /** @type {[string, string | Uint8Array][]} */ ([]);
      const recorder = {
        put: async (/** @type {string} */ key, /** @type {string | Uint8Array} */ value) =>
          void list.push([key, value]),
      };
      await seed({ mf: { getKVNamespace: async () => recorder } }, options);
      recorded.set(options.count, (puts = list));
    }
    return puts;
  };
  return {
    prepare,
    /**
     * @param {import("./workers.mjs").Running} target
     * @param {{ count: number, iss: string, revokedJti: string }} options
     */
    async seed(target, options) {
      const puts = await prepare(options);
      const kv = /** @type {{ put: (key: string, value: string | Uint8Array) => Promise<void> }} */ (
        /** @type {unknown} */ (await target.mf.getKVNamespace("REVOCATIONS"))
      );
      for (const [key, value] of puts) await kv.put(key, value);
    },
  };
}

/** @param {number} bytes */
export const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** @param {number[]} xs */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

/**
 * @param {{
 *   beforeRev: string, sizes: number[], reps: number, heap: boolean,
 *   log: (line: string) => void, cleanups: { push: (step: () => unknown) => void },
 * }} options
 */
export async function workerdColdStarts({ beforeRev, sizes, reps, heap, log, cleanups }) {
  const tmp = mkdtempSync(join(tmpdir(), "bench-revocations-workerd-"));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  const beforeRoot = join(tmp, "tree");
  extractTree(beforeRev, beforeRoot);
  log(`the Worker as of ${beforeRev} extracted (git archive); bundling both with wrangler deploy --dry-run`);
  const [beforeEntry, afterEntry] = await Promise.all([
    bundle(join(beforeRoot, "wrangler.toml"), join(tmp, "bundle-before"), beforeRoot),
    bundle(CONFIGS.project, join(tmp, "bundle-after")),
  ]);
  const versions = {
    before: {
      config: join(beforeRoot, "wrangler.toml"),
      entry: beforeEntry,
      seeder: replaying(await beforeSeeder(beforeRoot)),
    },
    after: { config: CONFIGS.project, entry: afterEntry, seeder: replaying(seedRevocations) },
  };

  const keys = await makeKeys();
  const { origin, issuer } = await startOriginAndIssuer(keys.jwks, cleanups);
  const iss = issuer.url;
  const revokedJti = crypto.randomUUID();
  const revoked = await mint(keys.keys.ES256, iss, { sub: "cold-revoked", jti: revokedJti });
  // Two per rep (coldStarts sends tokens[0] first, tokens[1] next), each rep its own pair.
  const coldTokens = await mintMany(keys.keys.ES256, iss, 2 * reps, "cold");
  const warmTokens = heap ? await mintMany(keys.keys.ES256, iss, 300, "warm") : [];

  /** @param {string} label */
  const projectVars = (label) => ({
    ORIGIN_URL: origin.url,
    ISSUERS: [{ issuer: iss, jwksUri: issuer.jwksUri(label), audiences: [AUDIENCE], algorithms: ["ES256", "RS256"] }],
    POLICY: { routes: [{ path: "/api/*", require: { scopes: [SCOPE] } }] }, // eventual (the default)
    ADMIN_TOKENS: ADMIN_TOKEN,
    LOG_DECISIONS: "denials",
  });

  /** Targets still running, stopped on SIGINT or a failure. */
  const live = new Set();
  cleanups.push(async () => {
    for (const t of live) await t.dispose().catch(() => {});
  });

  /**
   * A starter for coldStarts and isolateHeap. Before stopping an instance, it checks that its view
   * holds every entry and that it denies the token whose jti is among them (nothing is timed then).
   * @param {"before" | "after"} version @param {number} count @param {any[]} checks
   */
  const starter =
    (version, count, checks) =>
    async (/** @type {string} */ label, /** @type {number | undefined} */ inspectorPort) => {
      const v = versions[version];
      const running = await startWorker({
        name: label,
        config: v.config,
        entry: v.entry,
        vars: projectVars(label),
        ...(inspectorPort ? { inspectorPort } : {}),
      });
      const t = {
        ...running,
        dispose: async () => {
          try {
            const view = await viewStatus(running.url);
            /** @type {number | null} */
            let revokedStatus = null;
            if (count > 0) {
              const res = await fetch(new URL(LOAD_PATH, running.url), {
                headers: { Authorization: `Bearer ${revoked}` },
                signal: AbortSignal.timeout(30_000),
              });
              await res.arrayBuffer();
              revokedStatus = res.status;
            }
            checks.push({ entries: view.entries, revokedStatus });
          } finally {
            live.delete(t);
            await running.dispose();
          }
        },
      };
      live.add(t);
      return t;
    };

  /** @type {{ version: "before" | "after", count: number, runs: any[], checks: any[], memory: any }[]} */
  const cells = [];
  for (const version of /** @type {const} */ (["before", "after"]))
    for (const count of sizes) cells.push({ version, count, runs: [], checks: [], memory: null });
  // Every cell's KV values made up front, so that no hashing or JSON building in this process runs
  // beside a measured start.
  const prepareStarted = Date.now();
  for (const cell of cells) await versions[cell.version].seeder.prepare({ count: cell.count, iss, revokedJti });
  /** @type {any} */ (globalThis).gc?.(); // there when run with --expose-gc, as npm run bench:revocations does
  log(`KV values for every cell made (${Date.now() - prepareStarted} ms)`);
  // One unmeasured start per version first: the first workerd of a run also pays for the page cache
  // (workerd's binary, the bundle) and this process's own first fetches.
  for (const version of /** @type {const} */ (["before", "after"])) {
    await coldStarts({
      start: starter(version, 0, []),
      seed: null,
      tokens: coldTokens.slice(0, 2),
      issuer,
      reps: 1,
      label: `warmup-${version}`,
    });
  }
  for (let rep = 0; rep < reps; rep++) {
    for (const cell of cells) {
      const label = `cold-${cell.version}-${cell.count}`;
      const seed = (/** @type {import("./workers.mjs").Running} */ t) =>
        versions[cell.version].seeder.seed(t, { count: cell.count, iss, revokedJti });
      const t0 = Date.now();
      const [run] = await coldStarts({
        start: starter(cell.version, cell.count, cell.checks),
        seed,
        tokens: coldTokens.slice(2 * rep, 2 * rep + 2),
        issuer,
        reps: 1,
        label,
      });
      cell.runs.push(run);
      const check = cell.checks[cell.checks.length - 1];
      log(
        `rep ${rep + 1}/${reps} ${cell.version} ${cell.count.toLocaleString("en")}: first ${run.firstMs.toFixed(1)} ms (${run.firstStatus}), second ${run.secondMs.toFixed(1)} ms (${run.secondStatus}); view ${check?.entries} entries${check?.revokedStatus ? `, revoked token ${check.revokedStatus}` : ""} (${Date.now() - t0} ms in all)`,
      );
    }
  }
  if (heap) {
    for (const cell of cells) {
      const seed = (/** @type {import("./workers.mjs").Running} */ t) =>
        versions[cell.version].seeder.seed(t, { count: cell.count, iss, revokedJti });
      try {
        cell.memory = await isolateMemory({
          warmRequests: 300,
          allOk: true,
          start: starter(cell.version, cell.count, cell.checks),
          seed,
          tokens: warmTokens,
          label: `mem-${cell.version}-${cell.count}`,
        });
        const m = cell.memory;
        log(
          `memory ${cell.version} ${cell.count.toLocaleString("en")}: JS heap ${mb(m.heapUsedBytes)}, ArrayBuffers ${m.backingStorageBytes === null ? "n/a" : mb(m.backingStorageBytes)} after GC; workerd RSS ${mb(m.rssBytes)} (view ${m.entries} entries)`,
        );
      } catch (e) {
        cell.memory = { error: e instanceof Error ? e.message.split("\n")[0] : String(e) };
        log(`heap ${cell.version} ${cell.count}: failed: ${cell.memory.error}`);
      }
    }
  }
  // Every instance must have loaded every entry and denied the revoked token: else the times are not
  // the times of a loaded view.
  for (const cell of cells) {
    for (const c of cell.checks) {
      if (c.entries !== cell.count) throw new Error(`${cell.version} ${cell.count}: a view held ${c.entries} entries`);
      if (cell.count > 0 && c.revokedStatus !== 401)
        throw new Error(`${cell.version} ${cell.count}: the revoked token got ${c.revokedStatus}, not 401`);
    }
    for (const r of cell.runs)
      if (r.firstStatus !== 200 || r.secondStatus !== 200)
        throw new Error(`${cell.version} ${cell.count}: answered ${r.firstStatus}/${r.secondStatus}, not 200`);
  }
  return cells;
}

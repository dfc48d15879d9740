// Measures the edge's revocation view before and after the compact index, in one run, twice over.
//
// 1. In Node's V8: heap per entry, a cold load of N entries from a snapshot, an incremental refresh
// (one head with a full tail), a "nothing changed" check, and the per-request check. "before" is
// src/revocation/view.ts as of BEFORE_REV (JSON snapshot chunks parsed into Maps), bundled from git;
// "after" is the working tree (sorted 12-byte records read as one ArrayBuffer and searched in place,
// hashed-index.ts). The KV here is an in-memory map holding the exact layout each version's ledger
// writes, so the figures are the view's own CPU and memory, not KV's network latency. Each (version,
// size) runs in a process of its own, so no heap is shared.
//
// 2. In workerd (bench/lib/revocation-cold.mjs): the whole Worker of each version, in a new Miniflare
// per measurement (a cold isolate), its KV seeded in that version's layout; the first request with a
// valid token on an eventual route (it loads the view), the second, and the isolate's heap after GC.
//
//   npm run bench:revocations                        both (bounded: two to three minutes)
//   npm run bench:revocations -- --cold-reps 5       cold starts per cell in workerd (3)
//   npm run bench:revocations -- --no-heap           no isolate heap readings in workerd
//   npm run bench:revocations -- --no-workerd        the Node table only (about 40 s)
import { execFileSync } from "node:child_process";
import { build } from "esbuild";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { cleanupStack } from "./lib/proc.mjs";
import { mb, median, workerdColdStarts } from "./lib/revocation-cold.mjs";
import { cloudflareWorkersStub } from "./lib/workers-stub.mjs";

/** The last commit whose view parsed JSON snapshots into Maps. */
const BEFORE_REV = "5118b72";
const SIZES = [0, 100_000, 1_000_000];
/** The goal: a cold isolate's first request with 100 000 active revocations at most this much slower than with none. */
const GOAL_COUNT = 100_000;
const GOAL_MS = 25;

const { values: flags } = parseArgs({
  options: {
    count: { type: "string" },
    version: { type: "string" },
    "cold-reps": { type: "string", default: "3" },
    "no-heap": { type: "boolean", default: false },
    "no-workerd": { type: "boolean", default: false },
  },
});
const only = flags.count ?? null;
if (only === null) {
  delete process.env.CLOUDFLARE_ENV; // wrangler would read an environment of wrangler.toml from it
  const coldReps = Number(flags["cold-reps"]);
  if (!Number.isInteger(coldReps) || coldReps < 1 || coldReps > 9)
    throw new Error(`--cold-reps: expected 1 to 9, got ${flags["cold-reps"]}`);
  const started = Date.now();
  const log = (/** @type {string} */ line) =>
    process.stderr.write(`[bench:revocations ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);
  const rows = [];
  for (const version of ["before", "after"]) {
    for (const count of SIZES) {
      const out = execFileSync(
        process.execPath,
        ["--expose-gc", "--max-old-space-size=4096", process.argv[1], "--count", String(count), "--version", version],
        {
          encoding: "utf8",
          timeout: 300_000,
        },
      );
      rows.push(JSON.parse(out));
      log(`node: ${version} ${count.toLocaleString("en")} done`);
    }
  }
  const lines = [];
  lines.push(
    `Revocation view (Node ${process.version}, in-memory KV; one run, one process per row; before = ${BEFORE_REV})`,
    "",
  );
  lines.push(
    "| version | active entries | heap + buffers | bytes / entry | cold load | cold load - none | refresh with 256 new | refresh, nothing new | check per request |",
  );
  lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows) {
    const none = rows.find((x) => x.version === r.version && x.count === 0);
    lines.push(
      `| ${r.version} | ${r.count.toLocaleString("en")} | ${r.heapMb.toFixed(1)} MB | ${r.count === 0 ? "—" : Math.round(r.bytesPerEntry)} | ${r.coldMs.toFixed(1)} ms | ${r.count === 0 ? "—" : `+${(r.coldMs - none.coldMs).toFixed(1)} ms`} | ${r.incrementalMs.toFixed(2)} ms | ${r.unchangedUs.toFixed(1)} µs | ${r.checkNs.toFixed(0)} ns |`,
    );
  }
  console.log(`\n${lines.join("\n")}`);

  /** @type {any[] | null} */
  let cells = null;
  if (!flags["no-workerd"]) {
    const cleanups = cleanupStack(log);
    try {
      cells = await workerdColdStarts({
        beforeRev: BEFORE_REV,
        sizes: SIZES,
        reps: coldReps,
        heap: !flags["no-heap"],
        log,
        cleanups,
      });
    } finally {
      await cleanups.run();
    }
    const first = (/** @type {any} */ c) => median(c.runs.map((/** @type {any} */ r) => r.firstMs));
    /** @param {any} c @param {"heapUsedBytes" | "backingStorageBytes"} field */
    const memOf = (c, field) =>
      !c.memory ? "—" : c.memory.error ? "failed" : c.memory[field] === null ? "n/a" : mb(c.memory[field]);
    const w = [];
    w.push(
      `Cold isolate in workerd (Miniflare, a new workerd per start; the first request with a valid token on an eventual route loads the view; median of ${coldReps} per row, starts interleaved across rows; before = ${BEFORE_REV})`,
      "",
    );
    w.push(
      "| version | active entries | first request | first request - none | second request | JS heap after GC | ArrayBuffers after GC |",
    );
    w.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const c of cells) {
      const none = cells.find((x) => x.version === c.version && x.count === 0);
      const each = c.runs.map((/** @type {any} */ r) => r.firstMs.toFixed(0)).join(", ");
      const diff = first(c) - first(none);
      w.push(
        `| ${c.version} | ${c.count.toLocaleString("en")} | ${first(c).toFixed(1)} ms (${each}) | ${c.count === 0 ? "—" : `${diff >= 0 ? "+" : ""}${diff.toFixed(1)} ms`} | ${median(c.runs.map((/** @type {any} */ r) => r.secondMs)).toFixed(1)} ms | ${memOf(c, "heapUsedBytes")} | ${memOf(c, "backingStorageBytes")} |`,
      );
    }
    w.push("");
    for (const version of ["before", "after"]) {
      const at = cells.find((x) => x.version === version && x.count === GOAL_COUNT);
      const none = cells.find((x) => x.version === version && x.count === 0);
      if (!at || !none) continue;
      const diff = first(at) - first(none);
      w.push(
        `Goal (${version}): first request with ${GOAL_COUNT.toLocaleString("en")} active revocations at most ${GOAL_MS} ms slower than with none: ${diff >= 0 ? "+" : ""}${diff.toFixed(1)} ms, ${diff <= GOAL_MS ? "met" : "NOT met"}`,
      );
    }
    console.log(`\n${w.join("\n")}`);
  }
  mkdirSync(join("bench", "results"), { recursive: true });
  const file = join("bench", "results", "revocation-view.json");
  // "after" is the working tree: its commit, and whether src/ or wrangler.toml differed from it.
  const git = (/** @type {string[]} */ args) => execFileSync("git", args, { encoding: "utf8", timeout: 10_000 }).trim();
  const after = {
    head: git(["rev-parse", "--short", "HEAD"]),
    uncommitted: git(["status", "--porcelain", "--", "src", "wrangler.toml"]).split("\n").filter(Boolean),
  };
  writeFileSync(
    file,
    JSON.stringify(
      {
        node: process.version,
        at: new Date().toISOString(),
        before: BEFORE_REV,
        after,
        rows,
        workerd: cells ? { coldReps, cells } : null,
      },
      null,
      2,
    ),
  );
  console.log(`\nRaw figures: ${file} (${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
  process.exit(0);
}

if (typeof globalThis.gc !== "function") {
  console.error("run with --expose-gc (npm run bench:revocations does)");
  process.exit(1);
}
const gc = /** @type {() => void} */ (globalThis.gc);
const version = flags.version;
const count = Number(only);
const dir = mkdtempSync(join(tmpdir(), "revocation-bench-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true })); // also when a step throws
let src = "src";
if (version === "before") {
  // The old modules, as they were at BEFORE_REV, side by side in a scratch folder.
  src = join(dir, "src");
  mkdirSync(join(src, "revocation"), { recursive: true });
  for (const file of ["revocation/view.ts", "revocation/kv-layout.ts", "revocation/model.ts", "constants.ts"]) {
    writeFileSync(join(src, file), execFileSync("git", ["show", `${BEFORE_REV}:src/${file}`], { encoding: "utf8" }));
  }
}
const entryPoints = [
  join(src, "revocation/view.ts"),
  join(src, "revocation/kv-layout.ts"),
  ...(version === "after" ? [join(src, "revocation/hashed-index.ts")] : []),
];
await build({
  entryPoints,
  bundle: true,
  format: "esm",
  platform: "neutral",
  outdir: join(dir, "out"),
  logLevel: "error",
  nodePaths: [join(process.cwd(), "node_modules")],
  plugins: [cloudflareWorkersStub],
});
const viewModule = await import(pathToFileURL(join(dir, "out", "view.js")).href);
const layout = await import(pathToFileURL(join(dir, "out", "kv-layout.js")).href);
const hashed = version === "after" ? await import(pathToFileURL(join(dir, "out", "hashed-index.js")).href) : null;

/** An in-memory KV with the binding's `get(key, type)` shape. */
function memoryKv() {
  const store = new Map();
  return {
    store,
    async get(key, options) {
      const type = typeof options === "string" ? options : options?.type;
      const v = store.get(key);
      if (v === undefined) return null;
      if (type === "json") return JSON.parse(v);
      if (type === "arrayBuffer") return v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength);
      return v;
    },
  };
}

const now = Math.floor(Date.now() / 1000);
const ISS = "https://idp.example.com/";
function entries(from, n) {
  const list = [];
  for (let i = 0; i < n; i++) {
    // A realistic mix: most are jti (UUIDs), some sub/sid.
    const kind = i % 10 === 0 ? "sub" : i % 10 === 1 ? "sid" : "jti";
    list.push([from + i, kind, ISS, crypto.randomUUID(), now, now + 86400]);
  }
  return list;
}

/** The snapshot as this version's ledger writes it: JSON chunks (before), sorted records (after). */
async function writeSnapshot(kv, n) {
  const all = entries(1, n);
  let snapshot;
  if (version === "before") {
    const per = layout.SNAPSHOT_CHUNK_ENTRIES;
    const chunks = Math.ceil(n / per);
    for (let i = 0; i < chunks; i++)
      kv.store.set(layout.snapshotKey(n, i), JSON.stringify(all.slice(i * per, (i + 1) * per)));
    snapshot = { seq: n, chunks };
  } else {
    const rows = [];
    for (const [, kind, iss, value, at] of all) rows.push({ h: await hashed.entryHash(kind, iss, value), at });
    rows.sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0));
    const bytes = hashed.encodeRecords(rows, rows.length);
    const per = Math.floor(layout.MAX_VALUE_BYTES / hashed.RECORD_BYTES) * hashed.RECORD_BYTES;
    let chunks = 0;
    for (let o = 0; o < bytes.byteLength; o += per)
      kv.store.set(layout.recordsKey(n, chunks++), bytes.slice(o, o + per));
    snapshot = { seq: n, chunks, records: true };
  }
  kv.store.set(
    layout.HEAD_KEY,
    JSON.stringify({ seq: n, snapshot: n === 0 ? null : snapshot, segments: [], tail: [] }),
  );
  kv.store.set(layout.VERSION_KEY, String(n));
}

/** The JS heap and the ArrayBuffers outside it (where the records live), together. */
const memory = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
gc();
const heapBefore = memory();
const kv = memoryKv();
await writeSnapshot(kv, count);
const view = new viewModule.RevocationView(kv);
let t = performance.now();
await view.ensureFresh(5000, Date.now());
const coldMs = performance.now() - t;
kv.store.clear(); // drop the KV copy, so only the view's share remains
gc();
const heapAfter = memory();
const bytesPerEntry = count === 0 ? 0 : (heapAfter - heapBefore) / count;

// An incremental refresh: a head whose tail holds TAIL_MAX_ENTRIES new entries (hashes included after).
const tail = entries(count + 1, layout.TAIL_MAX_ENTRIES);
if (version === "after") for (const e of tail) e.push(await hashed.entryHash(e[1], e[2], e[3]));
kv.store.set(layout.HEAD_KEY, JSON.stringify({ seq: count + tail.length, snapshot: null, segments: [], tail }));
kv.store.set(layout.VERSION_KEY, String(count + tail.length));
t = performance.now();
await view.ensureFresh(5000, Date.now() + 10_000);
const incrementalMs = performance.now() - t;

// Nothing changed: one version read.
t = performance.now();
const rounds = 1000;
for (let i = 0; i < rounds; i++) await view.ensureFresh(5000, Date.now() + 20_000 + i * 10_000);
const unchangedUs = ((performance.now() - t) / rounds) * 1000;

// The per-request check (no KV) for a token that is not revoked; after: its probe is computed once per
// verification (src/revocation/facts.ts), so it is made once here too.
const facts = { iss: ISS, jti: crypto.randomUUID(), sub: "someone", sid: "session", iat: now };
const asked = version === "after" ? await hashed.probeOf(facts) : facts;
t = performance.now();
const checks = 200_000;
for (let i = 0; i < checks; i++) view.revokedBy(asked);
const checkNs = ((performance.now() - t) / checks) * 1e6;

if (view.status(Date.now()).entries < count) throw new Error("view did not load every entry");
rmSync(dir, { recursive: true, force: true });
process.stdout.write(
  JSON.stringify({
    version,
    count,
    bytesPerEntry,
    heapMb: (heapAfter - heapBefore) / 2 ** 20,
    coldMs,
    incrementalMs,
    unchangedUs,
    checkNs,
  }),
);

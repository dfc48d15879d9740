// Measures the edge's revocation view (src/revocation/view.ts, bundled as it ships) in Node's V8:
// heap per entry, the time of a cold load of N entries from a snapshot, the time of an incremental
// refresh (one head with a full tail), and the time of a "nothing changed" check. The KV here is an
// in-memory map holding the exact layout the ledger writes, so the figures are the view's own CPU
// and memory, not KV's network latency. Run: npm run bench:revocations (bounded: a few seconds).
import { execFileSync } from "node:child_process";
import { build } from "esbuild";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// Each size runs in a process of its own, so that no heap is shared between measurements.
const only = process.argv.indexOf("--count") > 0 ? Number(process.argv[process.argv.indexOf("--count") + 1]) : null;
if (only === null) {
  const rows = [10_000, 100_000, 300_000].map((count) =>
    JSON.parse(execFileSync(process.execPath, ["--expose-gc", process.argv[1], "--count", String(count)], { encoding: "utf8", timeout: 120_000 })),
  );
  console.log(`\nRevocation view (Node ${process.version}, in-memory KV; one run, one process per size)\n`);
  console.log("| active entries | heap | bytes / entry | cold load | refresh with 256 new | refresh, nothing new | check per request |");
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows) {
    console.log(
      `| ${r.count.toLocaleString("en")} | ${r.heapMb.toFixed(1)} MB | ${Math.round(r.bytesPerEntry)} | ${r.coldMs.toFixed(0)} ms | ${r.incrementalMs.toFixed(2)} ms | ${r.unchangedUs.toFixed(1)} µs | ${r.checkNs.toFixed(0)} ns |`,
    );
  }
  mkdirSync(join("bench", "results"), { recursive: true });
  writeFileSync(join("bench", "results", "revocation-view.json"), JSON.stringify({ node: process.version, at: new Date().toISOString(), rows }, null, 2));
  process.exit(0);
}

if (typeof globalThis.gc !== "function") {
  console.error("run with --expose-gc (npm run bench:revocations does)");
  process.exit(1);
}
const gc = /** @type {() => void} */ (globalThis.gc);
const dir = mkdtempSync(join(tmpdir(), "revocation-bench-"));
const out = join(dir, "view.mjs");
await build({ entryPoints: ["src/revocation/view.ts", "src/revocation/kv-layout.ts"], bundle: true, format: "esm", platform: "neutral", outdir: dir, logLevel: "error" });
const viewModule = await import(pathToFileURL(join(dir, "view.js")).href);
const layout = await import(pathToFileURL(join(dir, "kv-layout.js")).href);
void out;

/** An in-memory KV with the binding's `get(key, "json")` shape. */
function memoryKv() {
  const store = new Map();
  return {
    store,
    async get(key, type) {
      const v = store.get(key);
      return v === undefined ? null : type === "json" ? JSON.parse(v) : v;
    },
  };
}

const now = Math.floor(Date.now() / 1000);
function entries(from, count) {
  const list = [];
  for (let i = 0; i < count; i++) {
    const seq = from + i;
    // A realistic mix: most are jti (UUIDs), some sub/sid.
    const kind = i % 10 === 0 ? "sub" : i % 10 === 1 ? "sid" : "jti";
    list.push([seq, kind, "https://idp.example.com/", `${crypto.randomUUID()}`, now, now + 86400]);
  }
  return list;
}

function writeSnapshot(kv, count) {
  const all = entries(1, count);
  const chunks = Math.ceil(count / layout.SNAPSHOT_CHUNK_ENTRIES);
  for (let i = 0; i < chunks; i++) {
    kv.store.set(layout.snapshotKey(count, i), JSON.stringify(all.slice(i * layout.SNAPSHOT_CHUNK_ENTRIES, (i + 1) * layout.SNAPSHOT_CHUNK_ENTRIES)));
  }
  kv.store.set(layout.HEAD_KEY, JSON.stringify({ seq: count, snapshot: { seq: count, chunks }, segments: [], tail: [] }));
  kv.store.set(layout.VERSION_KEY, String(count));
  return all;
}

{
  const count = only;
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const kv = memoryKv();
  writeSnapshot(kv, count);
  const view = new viewModule.RevocationView(kv);
  let t = performance.now();
  await view.ensureFresh(5000, Date.now());
  const coldMs = performance.now() - t;
  kv.store.clear(); // drop the KV copy so only the view remains on the heap
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  const bytesPerEntry = (heapAfter - heapBefore) / count;

  // An incremental refresh: a head whose tail holds TAIL_MAX_ENTRIES new entries.
  const tail = entries(count + 1, layout.TAIL_MAX_ENTRIES);
  kv.store.set(layout.HEAD_KEY, JSON.stringify({ seq: count + tail.length, snapshot: { seq: count, chunks: 0 }, segments: [], tail }));
  kv.store.set(layout.VERSION_KEY, String(count + tail.length));
  t = performance.now();
  await view.ensureFresh(5000, Date.now() + 10_000);
  const incrementalMs = performance.now() - t;

  // Nothing changed: one version read.
  t = performance.now();
  const rounds = 1000;
  for (let i = 0; i < rounds; i++) await view.ensureFresh(5000, Date.now() + 20_000 + i * 10_000);
  const unchangedUs = ((performance.now() - t) / rounds) * 1000;

  // The per-request check (no KV): lookups for a token that is not revoked.
  const facts = { iss: "https://idp.example.com/", jti: crypto.randomUUID(), sub: "someone", sid: "session", iat: now };
  t = performance.now();
  const checks = 200_000;
  for (let i = 0; i < checks; i++) view.revokedBy(facts);
  const checkNs = ((performance.now() - t) / checks) * 1e6;

  if (view.status(Date.now()).entries < count) throw new Error("view did not load every entry");
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ count, bytesPerEntry, heapMb: (heapAfter - heapBefore) / 2 ** 20, coldMs, incrementalMs, unchangedUs, checkNs }));
}


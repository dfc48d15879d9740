// Seeds a project target's REVOCATIONS KV with N active revocations in exactly the layout the ledger
// writes (src/revocation/kv-layout.ts, docs/revocation-storage.md): the snapshot's records first (each
// entry hashed as src/revocation/hashed-index.ts does, sorted), then the head naming them, then the
// version. The modules are bundled from src as they ship, so key names, hashes and records are the
// project's own. Writing KV directly takes a second or two; revoking
// 100 000 times through the admin route would take minutes and measure the ledger, not the edge.
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "./workers.mjs";

/** @returns {Promise<any>} src/revocation/kv-layout.ts and hashed-index.ts, bundled */
async function loadLayout() {
  const dir = mkdtempSync(join(tmpdir(), "bench-layout-"));
  try {
    const entryPoints = [join(ROOT, "src/revocation/kv-layout.ts"), join(ROOT, "src/revocation/hashed-index.ts")];
    await build({ entryPoints, bundle: true, format: "esm", platform: "neutral", outdir: dir, logLevel: "error" });
    return {
      ...(await import(pathToFileURL(join(dir, "kv-layout.js")).href)),
      ...(await import(pathToFileURL(join(dir, "hashed-index.js")).href)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The entries: mostly jti (from revoked tokens, with their issuer), every tenth a sub and every
 * tenth a sid (half of those for any issuer); none matches a load token. `revokedJti` is among them.
 * @param {number} count
 * @param {string} iss
 * @param {string} revokedJti
 */
export function seedEntries(count, iss, revokedJti) {
  const now = Math.floor(Date.now() / 1000);
  const list = [];
  const probeSeq = Math.ceil(count / 2);
  for (let seq = 1; seq <= count; seq++) {
    if (seq === probeSeq) {
      list.push([seq, "jti", iss, revokedJti, now - 60, now + 86_400]);
      continue;
    }
    const kind = seq % 10 === 0 ? "sub" : seq % 10 === 1 ? "sid" : "jti";
    const entryIss = kind === "jti" || seq % 20 < 10 ? iss : "";
    list.push([seq, kind, entryIss, crypto.randomUUID(), now - 60, now + 86_400]);
  }
  return list;
}

/**
 * @param {import("./workers.mjs").Running} target a running project target
 * @param {{ count: number, iss: string, revokedJti: string, binding?: string }} options the KV binding: REVOCATIONS unless named
 */
export async function seedRevocations(target, { count, iss, revokedJti, binding = "REVOCATIONS" }) {
  const layout = await loadLayout();
  const kv = /** @type {{ put: (key: string, value: string | Uint8Array) => Promise<void> }} */ (
    /** @type {unknown} */ (await target.mf.getKVNamespace(binding)) // the instance runs one Worker
  );
  const all = seedEntries(count, iss, revokedJti);
  const rows = [];
  for (const [, kind, entryIss, value, at] of all) rows.push({ h: await layout.entryHash(kind, entryIss, value), at });
  rows.sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0));
  const bytes = layout.encodeRecords(rows, rows.length);
  const per = Math.floor(layout.MAX_VALUE_BYTES / layout.RECORD_BYTES) * layout.RECORD_BYTES;
  let chunks = 0;
  for (let o = 0; o < bytes.byteLength; o += per)
    await kv.put(layout.recordsKey(count, chunks++), bytes.slice(o, o + per));
  await kv.put(
    layout.HEAD_KEY,
    JSON.stringify({ seq: count, snapshot: { seq: count, chunks, records: true }, segments: [], tail: [] }),
  );
  await kv.put(layout.VERSION_KEY, String(count));
}

/**
 * The project's own view of its revocations, from GET /.auth/health.
 * @param {URL} url
 * @returns {Promise<{ seq: number, entries: number, kvReads: number, ageSeconds: number | null, lastError: string | null }>}
 */
export async function viewStatus(url) {
  const res = await fetch(new URL("/.auth/health", url), { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`GET /.auth/health answered ${res.status}: ${await res.text()}`);
  const body = /** @type {any} */ (await res.json());
  return body.revocation.view;
}

/**
 * @param {URL} url
 * @returns {Promise<any>} the whole health body
 */
export async function health(url) {
  const res = await fetch(new URL("/.auth/health", url), { signal: AbortSignal.timeout(10_000) });
  return res.json();
}

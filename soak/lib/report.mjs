// The soak's report: the table (each figure, the bound it is held to, if any, and whether it held),
// the details that explain a failure, and the JSON of the whole run.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fmtInt } from "../../bench/lib/table.mjs";
import { round3 } from "./judge.mjs";

/** @typedef {{ figure: string, value: string, bound?: string, ok?: boolean }} Row */

/** @param {number} b */
export const mb = (b) => `${(b / 2 ** 20).toFixed(2)} MB`;
/** @param {number} ms */
export const sec = (ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "—");
export { fmtInt };

/** @param {Row[]} rows */
export function table(rows) {
  return [
    "| figure | value | bound | held |",
    "| --- | --- | --- | :---: |",
    ...rows.map(
      (r) => `| ${r.figure} | ${r.value} | ${r.bound ?? ""} | ${r.ok === undefined ? "" : r.ok ? "yes" : "**NO**"} |`,
    ),
  ].join("\n");
}

/**
 * @param {import("./inspector.mjs").HeapSample[]} samples
 * @param {number} t0 the load's start
 */
export function heapTable(samples, t0) {
  return [
    "| heap sample | at | JS heap after GC | ArrayBuffers | heap reserved | workerd RSS (informational) |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...samples.map(
      (s) =>
        `| ${s.label} | ${s.atMs < t0 ? "before load" : `${((s.atMs - t0) / 1000).toFixed(0)} s`} | ${mb(s.usedBytes)} | ${mb(s.backingStoreBytes)} | ${mb(s.totalBytes)} | ${mb(s.workerdRssBytes)} |`,
    ),
  ].join("\n");
}

/**
 * The line above the tables: what ran, on which code and which machine (its load read now, at the end).
 * @param {{ durationS: number, connections: number, rate: number, seed: number, quick: boolean }} opts
 * @param {{ tokens: number, stalenessS: number, git: { commit: string, dirty: string[] } }} run
 */
export function heading(opts, { tokens, stalenessS, git }) {
  const dirty = git.dirty.length ? ` with uncommitted changes in ${git.dirty.map((l) => l.slice(3)).join(", ")}` : "";
  return `Soak under wrangler dev: ${opts.durationS} s of load, ${opts.connections} connections, ${opts.rate} revocations/s, ${fmtInt(tokens)} ES256 tokens, REVOCATION_MAX_STALENESS_SECONDS ${stalenessS}, seed ${opts.seed}. Commit ${git.commit}${dirty}. Machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")} at the end.${opts.quick ? " QUICK RUN." : ""}`;
}

/**
 * Below the tables, what a failed figure needs to be understood: the first few of each kind of bad
 * answer or lost revocation (the JSON has them all).
 * @param {{
 *   examples: Record<string, object[]>, lostFromFeed: object[], lostFromStream: object[],
 *   sweep: Map<number, import("./http.mjs").Answer>, revokedNotDenied: number[], validNotPassed: number[],
 *   exceptions: import("./inspector.mjs").ThrownException[], wranglerOutput: string[],
 *   revocations: import("./revoker.mjs").RevocationResult[],
 * }} o `wranglerOutput` only when a check failed (else empty)
 */
export function printDetails({
  examples,
  lostFromFeed,
  lostFromStream,
  sweep,
  revokedNotDenied,
  validNotPassed,
  exceptions,
  wranglerOutput,
  revocations,
}) {
  const first10 = (/** @type {unknown[]} */ list) =>
    list
      .slice(0, 10)
      .map((x) => `  ${JSON.stringify(x)}`)
      .join("\n");
  for (const [name, list] of Object.entries(examples)) {
    if (list.length > 0) console.log(`examples, ${name}:\n${list.map((x) => `  ${JSON.stringify(x)}`).join("\n")}`);
  }
  if (lostFromFeed.length) console.log(`missing from the feed:\n${first10(lostFromFeed)}`);
  if (lostFromStream.length) console.log(`missing from the stream: ${JSON.stringify(lostFromStream.slice(0, 10))}`);
  const answers = (/** @type {number[]} */ list) =>
    JSON.stringify(list.slice(0, 10).map((i) => ({ token: i, ...sweep.get(i) })));
  if (revokedNotDenied.length) console.log(`sweep, revoked but not denied: ${answers(revokedNotDenied)}`);
  if (validNotPassed.length) console.log(`sweep, never revoked but not passed: ${answers(validNotPassed)}`);
  const [thrown] = exceptions;
  if (thrown) {
    console.log(
      `uncaught exceptions in the Worker's isolate (${exceptions.length}; all in the JSON), the first:\n  at ${round3(thrown.atMs / 1000)} s: ${thrown.text.split("\n")[0]}\n${thrown.frames.map((f) => `    ${f}`).join("\n")}`,
    );
  }
  if (wranglerOutput.length > 0)
    console.log(
      `wrangler dev printed (besides the routine per-request lines; all in the JSON):\n${wranglerOutput
        .slice(-20)
        .map((l) => `  ${l}`)
        .join("\n")}`,
    );
  const notAcked = revocations.filter((r) => r.revokedAt === null);
  if (notAcked.length)
    console.log(
      `not acknowledged: ${JSON.stringify(notAcked.slice(0, 10).map((r) => ({ k: r.k, kind: r.kind, status: r.status, error: r.error })))}`,
    );
}

/**
 * Each revocation as the JSON keeps it: times in seconds from the load's start, durations in ms.
 * @param {import("./revoker.mjs").RevocationResult[]} revocations
 * @param {number} t0 the load's start
 */
export const revocationRecords = (revocations, t0) =>
  revocations.map((r) => ({
    k: r.k,
    kind: r.kind,
    value: r.value,
    tokens: r.tokens.length,
    seq: r.seq,
    status: r.status,
    attempts: r.attempts,
    error: r.error,
    sentAtS: round3((r.sentAt - t0) / 1000),
    answerMs: r.revokedAt === null ? null : Math.round(r.revokedAt - r.sentAt),
    firstDenialMs: r.revokedAt === null || r.firstDenialAt === null ? null : Math.round(r.firstDenialAt - r.revokedAt),
    watched: r.watched,
  }));

/**
 * Writes soak/results/<timestamp>.json: when, on what Node, code and machine the run was, then `fields`.
 * @param {string} root the repository
 * @param {{ commit: string, dirty: string[] }} git
 * @param {Record<string, unknown>} fields
 * @returns {string} the file written
 */
export function writeResults(root, git, fields) {
  const dir = join(root, "soak", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  const results = {
    at: new Date().toISOString(),
    node: process.version,
    git,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadavg: loadavg(),
    ...fields,
  };
  writeFileSync(file, JSON.stringify(results, null, 2));
  return file;
}

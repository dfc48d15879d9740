// The soak's table: each figure, the bound it is held to (if any) and whether it held.
import { fmtInt } from "../../bench/lib/table.mjs";

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
    ...rows.map((r) => `| ${r.figure} | ${r.value} | ${r.bound ?? ""} | ${r.ok === undefined ? "" : r.ok ? "yes" : "**NO**"} |`),
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

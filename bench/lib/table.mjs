// From raw rounds to the tables: every figure of a target is first taken against the pass-through
// measured in the same round (the mean of its slots there: load.mjs runs it before and after the
// other targets) and, for the extra CPU, against the jose Worker's of that round; then the median
// over rounds is shown.
import { percentile } from "./round.mjs";

export const PASS = "pass-through";
export const JOSE = "jose";
export const PROJECT_EMPTY = "project, no revocations";
export const PROJECT_LOGGED = "project, every decision logged";
/** @param {number} n */
export const projectFull = (n) => `project, ${fmtInt(n)} revocations`;

/** @param {number[]} xs */
export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

/** @param {number} n */
export function fmtInt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en").replace(/,/g, " ") : "—";
}
/** @param {number} n @param {number} digits */
const fmt = (n, digits) => (Number.isFinite(n) ? n.toFixed(digits).replace("-", "−") : "—");
/** @param {number} n @param {number} digits */
const signed = (n, digits) => (Number.isFinite(n) ? `${n >= 0 ? "+" : "−"}${Math.abs(n).toFixed(digits)}` : "—");

/**
 * @typedef {import("./round.mjs").RoundResult} RoundResult
 * @typedef {{
 *   workload: string, target: string, rounds: number,
 *   rps: number, rpsRatio: number, p50: number, p99: number, p99Diff: number,
 *   cpu: number, extraCpu: number, extraVsJose: number, jwksPer1k: number | null, kvPer1k: number | null,
 *   non2xx: number, requests: number, reused: number,
 * }} Row
 */

/**
 * A target's figures in one round and workload; for the pass-through, the mean of its slots there.
 * @param {RoundResult[]} rounds
 * @param {string} w
 * @param {string} t
 * @param {number} r
 * @returns {{ cpuUsPerReq: number, rps: number, p99: number } | undefined}
 */
export function slotOf(rounds, w, t, r) {
  const mine = rounds.filter((x) => x.workload === w && x.target === t && x.round === r);
  if (mine.length === 0) return undefined;
  const mean = (/** @type {(x: RoundResult) => number} */ f) => mine.reduce((a, x) => a + f(x), 0) / mine.length;
  return { cpuUsPerReq: mean((x) => x.cpuUsPerReq), rps: mean((x) => x.rps), p99: mean((x) => x.p99) };
}

/**
 * @param {RoundResult[]} rounds
 * @param {string[]} workloads in order
 * @param {string[]} targets in order
 * @returns {Row[]}
 */
export function summarize(rounds, workloads, targets) {
  /** @type {Row[]} */
  const rows = [];
  const find = (/** @type {string} */ w, /** @type {string} */ t, /** @type {number} */ r) => slotOf(rounds, w, t, r);
  for (const w of workloads) {
    for (const t of targets) {
      const mine = rounds.filter((x) => x.workload === w && x.target === t);
      if (mine.length === 0) continue;
      const per = mine.map((x) => {
        const pass = find(w, PASS, x.round);
        const jose = find(w, JOSE, x.round);
        const extra = pass ? x.cpuUsPerReq - pass.cpuUsPerReq : NaN;
        const joseExtra = pass && jose ? jose.cpuUsPerReq - pass.cpuUsPerReq : NaN;
        return {
          rpsRatio: pass ? x.rps / pass.rps : NaN,
          p99Diff: pass ? x.p99 - pass.p99 : NaN,
          extra,
          extraVsJose: joseExtra > 0 ? extra / joseExtra : NaN,
        };
      });
      const sum = (/** @type {(x: RoundResult) => number} */ f) => mine.reduce((a, x) => a + f(x), 0);
      const requests = sum((x) => x.requests);
      rows.push({
        workload: w,
        target: t,
        rounds: mine.length,
        rps: median(mine.map((x) => x.rps)),
        rpsRatio: median(per.map((p) => p.rpsRatio)),
        p50: median(mine.map((x) => x.p50)),
        p99: median(mine.map((x) => x.p99)),
        p99Diff: median(per.map((p) => p.p99Diff)),
        cpu: median(mine.map((x) => x.cpuUsPerReq)),
        extraCpu: median(per.map((p) => p.extra)),
        extraVsJose: median(per.map((p) => p.extraVsJose)),
        jwksPer1k: mine[0]?.jwksFetches === null ? null : (sum((x) => x.jwksFetches ?? 0) / requests) * 1000,
        kvPer1k: mine[0]?.kvReads === null ? null : (sum((x) => x.kvReads ?? 0) / requests) * 1000,
        non2xx: sum((x) => Object.values(x.non2xx).reduce((a, b) => a + b, 0) + x.errors),
        requests,
        reused: sum((x) => x.tokensReused),
      });
    }
  }
  return rows;
}

/** @param {Row[]} rows */
export function mainTable(rows) {
  const lines = [
    "| workload | target | req/s | × pass-through | p50 ms | p99 ms | p99 − pass-through | CPU µs/req | extra CPU µs/req | extra ÷ jose's extra | JWKS fetches /1k | KV reads /1k |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const isPass = r.target === PASS;
    const flags = [];
    if (r.non2xx > 0) flags.push(`${fmtInt(r.non2xx)} non-2xx/errors`);
    if (r.reused > 0) flags.push(`${fmtInt(r.reused)} reused tokens`);
    lines.push(
      `| ${r.workload} | ${r.target}${flags.length ? ` (${flags.join(", ")})` : ""} | ${fmtInt(r.rps)} | ${isPass ? "1" : fmt(r.rpsRatio, 2)}× | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${isPass ? "—" : signed(r.p99Diff, 2)} | ${fmtInt(r.cpu)} | ${isPass ? "—" : signed(r.extraCpu, 0)} | ${isPass ? "—" : fmt(r.extraVsJose, 2)} | ${r.jwksPer1k === null ? "—" : fmt(r.jwksPer1k, r.jwksPer1k >= 10 ? 0 : 2)} | ${r.kvPer1k === null ? "—" : fmt(r.kvPer1k, 2)} |`,
    );
  }
  return lines.join("\n");
}

/**
 * @param {{ label: string, value: string }[]} items
 */
export function smallTable(items) {
  return ["| figure | value |", "| --- | --- |", ...items.map((i) => `| ${i.label} | ${i.value} |`)].join("\n");
}

/** @param {number[]} ms */
export function latencySummary(ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    n: ms.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    missed: ms.filter((x) => !Number.isFinite(x)).length,
  };
}

/**
 * The issue's bounds, checked on this run's figures.
 * @param {RoundResult[]} rounds
 * @param {Row[]} rows
 * @param {{ headline: string, distinct: string[], full: string }} names
 */
export function goals(rounds, rows, { headline, distinct, full }) {
  const row = (/** @type {string} */ w, /** @type {string} */ t) =>
    rows.find((r) => r.workload === w && r.target === t);
  /** @type {{ goal: string, measured: string, bound: string, met: boolean | null }[]} */
  const out = [];
  for (const t of [PROJECT_EMPTY, full]) {
    const r = row(headline, t);
    if (!r) continue;
    out.push({
      goal: `${t}: extra CPU ÷ jose's extra CPU (${headline})`,
      measured: fmt(r.extraVsJose, 2),
      bound: "≤ 0.50",
      met: Number.isFinite(r.extraVsJose) ? r.extraVsJose <= 0.5 : null,
    });
    out.push({
      goal: `${t}: throughput × pass-through (${headline})`,
      measured: `${fmt(r.rpsRatio, 2)}×`,
      bound: "≥ 0.85×",
      met: Number.isFinite(r.rpsRatio) ? r.rpsRatio >= 0.85 : null,
    });
    out.push({
      goal: `${t}: p99 − pass-through p99 (${headline})`,
      measured: `${signed(r.p99Diff, 2)} ms`,
      bound: "≤ +1.00 ms",
      met: Number.isFinite(r.p99Diff) ? r.p99Diff <= 1 : null,
    });
  }
  // 100 000 revocations against none, round by round.
  const perRound = rounds
    .filter((x) => x.workload === headline && x.target === full)
    .map((x) => {
      const empty = slotOf(rounds, headline, PROJECT_EMPTY, x.round);
      return empty ? x.cpuUsPerReq / empty.cpuUsPerReq - 1 : NaN;
    });
  const more = median(perRound);
  out.push({
    goal: `${full} vs none: CPU per request (${headline})`,
    measured: `${signed(more * 100, 1)} %`,
    bound: "≤ +5 %",
    met: Number.isFinite(more) ? more <= 0.05 : null,
  });
  const kv = row(headline, full)?.kvPer1k ?? NaN;
  // One read per isolate per staleness window is the design; one per request would be 1 000.
  out.push({
    goal: `${full}: KV reads per 1 000 requests (${headline})`,
    measured: fmt(kv, 2),
    bound: "< 10 (none per request)",
    met: Number.isFinite(kv) ? kv < 10 : null,
  });
  for (const w of distinct) {
    const perRoundVsJose = rounds
      .filter((x) => x.workload === w && x.target === PROJECT_EMPTY)
      .map((x) => {
        const jose = slotOf(rounds, w, JOSE, x.round);
        return jose ? x.cpuUsPerReq / jose.cpuUsPerReq : NaN;
      });
    const ratio = median(perRoundVsJose);
    out.push({
      goal: `${PROJECT_EMPTY}: CPU per request ÷ jose's (${w})`,
      measured: `${fmt(ratio, 2)}×`,
      bound: "≤ 1.00×",
      met: Number.isFinite(ratio) ? ratio <= 1 : null,
    });
  }
  return out;
}

/** @param {ReturnType<typeof goals>} items */
export function goalsTable(items) {
  return [
    "| goal (issue 6) | measured | bound | met |",
    "| --- | ---: | ---: | :---: |",
    ...items.map(
      (g) => `| ${g.goal} | ${g.measured} | ${g.bound} | ${g.met === null ? "?" : g.met ? "yes" : "**no**"} |`,
    ),
  ].join("\n");
}

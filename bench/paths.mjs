// Path judging: the CPU one call of selectRule (src/policy.ts: the path's readings from src/path.ts,
// then the rule under each, case and ".ext" readings included) costs for crafted paths, as a ratio
// to a normal short path measured in the same run. It runs before any authentication, so its worst
// case is what any anonymous client can make an isolate spend per request.
//
// src/policy.ts and src/config.ts are bundled with esbuild as they ship and loaded in Node's V8 (the
// engine workerd embeds), and the rules are built by the project's own parseConfig from a POLICY
// object, so the code measured is the Worker's; there is no request, no Worker runtime and no
// logging around it (see bench/README.md, "Path judging", for why Node rather than workerd).
//
// Every row runs in every round, the rows in an order that reverses each round; a row's figure in
// a round is a batch of calls calibrated to about --batch-ms, its CPU time (process.cpuUsage, user +
// system) over the calls; the table shows medians over rounds, and the ratio is the median of
// per-round ratios to "/orders/42". Bounded: at most --rounds rounds (each row's batch capped in
// calls), and no new round starts after DEADLINE_MS. About 10 to 15 seconds.
//
//   npm run bench:paths -- [--rounds N] [--batch-ms MS]
import { build } from "esbuild";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { median } from "./lib/table.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const { values: flags } = parseArgs({
  options: {
    rounds: { type: "string", default: "25" },
    "batch-ms": { type: "string", default: "25" },
  },
});
const rounds = Math.min(100, Math.max(3, Math.round(Number(flags.rounds)) || 25));
const batchMs = Math.min(500, Math.max(5, Number(flags["batch-ms"]) || 25));
/** Calls per batch at most (a 0.3 µs judgement at 25 ms is about 80 000). */
const MAX_BATCH_CALLS = 1_000_000;
/** No round starts after this much measuring; the rounds done so far are reported. */
const DEADLINE_MS = 20_000;
/** A judgement above this is flagged under the table. */
const SLOW_US = 1_000;

const log = (/** @type {string} */ s) => process.stderr.write(`[paths] ${s}\n`);

// The project's code as it ships, in one bundle so that policy, path and config share one copy.
const dir = mkdtempSync(join(tmpdir(), "bench-paths-"));
let m;
try {
  await build({
    stdin: {
      contents: [
        'export { selectRule, selectRuleMemo } from "./src/policy.ts";',
        'export { parseConfig } from "./src/config.ts";',
        'export { readingsOf } from "./src/path.ts";',
        'export { MAX_PATH_BYTES, MAX_PATH_SEGMENTS, MAX_READ_PATH_BYTES, MAX_READ_PATH_SEGMENTS, MAX_POLICY_ROUTES } from "./src/constants.ts";',
      ].join("\n"),
      resolveDir: ROOT,
      sourcefile: "bench-paths-entry.ts",
      loader: "ts",
    },
    bundle: true,
    format: "esm",
    platform: "neutral",
    outfile: join(dir, "policy.mjs"),
    logLevel: "error",
  });
  m = await import(pathToFileURL(join(dir, "policy.mjs")).href);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const {
  selectRule,
  selectRuleMemo,
  parseConfig,
  readingsOf,
  MAX_PATH_BYTES,
  MAX_PATH_SEGMENTS,
  MAX_READ_PATH_BYTES,
  MAX_READ_PATH_SEGMENTS,
  MAX_POLICY_ROUTES,
} = m;

// A realistic policy: README's POLICY example and a few more of the same kind (10 rules).
const POLICY_10 = [
  { path: "/*", methods: ["OPTIONS"], auth: "none" },
  { path: "/health", auth: "none" },
  { path: "/admin/*", require: { scopes: ["admin"] }, revocation: "strict" },
  { path: "/orders/*", methods: ["POST", "DELETE"], require: { roles: ["buyer", "admin"] } },
  { path: "/orders/*", methods: ["GET"], require: { scopes: ["orders:read"] } },
  { path: "/public/*", auth: "none" },
  { path: "/partner/*", client: "required", require: { scopes: ["partner"] } },
  { path: "/users/*/profile", require: { scopes: ["profile"] } },
  { path: "/reports/*", require: { roles: ["analyst"] }, revocation: "skip" },
  { path: "/billing/*", methods: ["GET", "POST"], require: { claims: { tier: "paid" } } },
];
// MAX_POLICY_ROUTES rules: fillers of the same kinds first, then the 10, so that a path under
// /orders/* walks about 495 rules under every reading (the worst place for its rule to be).
/** @type {object[]} */
const fillers = Array.from({ length: MAX_POLICY_ROUTES - POLICY_10.length }, (_, i) =>
  i % 4 === 0
    ? { path: `/svc${i}/*`, require: { scopes: [`svc${i}`] } }
    : i % 4 === 1
      ? { path: `/svc${i}/items/*/detail`, methods: ["GET"] }
      : i % 4 === 2
        ? { path: `/svc${i}/status`, auth: "none" }
        : { path: `/svc${i}/*`, methods: ["POST", "PUT", "DELETE"], require: { roles: ["writer"] } },
);
const POLICY_500 = [...fillers, ...POLICY_10];

/** The rules and readings setting exactly as the Worker builds them from its vars. */
function configOf(/** @type {object[]} */ routes) {
  const result = parseConfig({
    ISSUERS: [{ issuer: "https://idp.example.com/", audiences: ["api"] }],
    POLICY: { routes },
  });
  if (!("config" in result)) throw new Error(`POLICY refused: ${JSON.stringify(result.issues)}`);
  return result.config;
}
const c10 = configOf(POLICY_10);
const c500 = configOf(POLICY_500);
if (c500.rules.length !== MAX_POLICY_ROUTES)
  throw new Error(`the large policy has ${c500.rules.length} rules, not ${MAX_POLICY_ROUTES}`);

/** `head` + `body` repeated + `tail`, cut to exactly `length` characters. */
function padded(
  /** @type {string} */ head,
  /** @type {string} */ body,
  /** @type {string} */ tail,
  /** @type {number} */ length,
) {
  const n = length - head.length - tail.length;
  return head + body.repeat(Math.ceil(n / body.length)).slice(0, n) + tail;
}
/** "/orders/" + "%zz%" × n: the reported attack (each "%" a malformed escape). */
const attack = (/** @type {number} */ n) => `/orders/${"%zz%".repeat(n)}`;
const largestAttack = Math.floor((MAX_READ_PATH_BYTES - "/orders/".length) / 4);
// Every reading dimension live: %2f and %5c (decoded separators), "\" (backslash as slash), "%2e" and
// "..;" (dot segments, also after ";" is dropped), ";" and "%3B" (the three ";params" readings), "//"
// (merged or not), a non-ASCII escape (İ, the slow case fold) and upper case (the case reading), and
// a ".JSON" last segment (the suffix reading): 48 readings computed.
const EVERY = "/%2f%5c\\;%3B/%2e/..;/%C4%B0/";
// Of the mixes tried (this unit repeated; one of each then "/", "/\\", "\\", "/;" or "/%2f" to the
// cap; three orders of the triggers), one of each then "/" to the cap cost the most: about 2 000
// segments, most of them empty, in each of the readings that do not merge "//". Such a path is now
// refused for its segments (MAX_READ_PATH_SEGMENTS); the worst accepted is one of each, "/" up to
// that many separators, then the rest of the 2 KiB in the last segment.
const overSegments = padded(`/orders/q${EVERY}`, "/", "X.JSON", MAX_READ_PATH_BYTES);
const separators = (/** @type {string} */ p) => (p.match(/[/\\]|%2f|%5c/gi) ?? []).length;
const worstHead = `/orders/q${EVERY}`;
const worst = padded(
  worstHead + "/".repeat(MAX_READ_PATH_SEGMENTS - separators(worstHead)),
  "a%zz",
  "X.JSON",
  MAX_READ_PATH_BYTES,
);
if (separators(worst) !== MAX_READ_PATH_SEGMENTS) throw new Error(`the worst path has ${separators(worst)} separators`);
// The gateway judges the path of request.url, which the runtime's URL parser has already normalised
// ("\\" read as "/", "." and ".." segments and their %2e spellings resolved); forward-auth judges the
// path of X-Forwarded-Uri / X-Original-URI as the proxy sent it. The rows above are judged as sent
// (forward-auth); this one is the worst found without what the parser changes, and is checked to
// come through Node's WHATWG URL parser unchanged.
const BASE = "https://api.example.com";
const gatewayHead = "/orders/q/%2f%5c;%3B/..;/%C4%B0/";
const worstGateway = padded(
  gatewayHead + "/".repeat(MAX_READ_PATH_SEGMENTS - separators(gatewayHead)),
  "a%zz",
  "X.JSON",
  MAX_READ_PATH_BYTES,
);
if (new URL(worstGateway, BASE).href !== BASE + worstGateway)
  throw new Error("the gateway row's path is not what the URL parser leaves");
const mixed = (() => {
  const tail = "/X.JSON";
  let s = "/orders";
  for (let i = 0; ; i++) {
    const unit = `/Q${i}/R${EVERY}`;
    if (s.length + unit.length + tail.length > MAX_READ_PATH_BYTES) return s + tail;
    s += unit;
  }
})();

const ORDERS = "/orders/*";
/** @type {{ label: string, path: string, config: any, expect: string, memo?: boolean }[]} */
const ROWS = [
  { label: "normal path /orders/42 (the 1×)", path: "/orders/42", config: c10, expect: ORDERS },
  {
    label: "normal path, memoized (selectRuleMemo, what the Worker calls; paths ≤ 256 chars seen before)",
    path: "/orders/42",
    config: c10,
    expect: ORDERS,
    memo: true,
  },
  {
    label: `attack "/orders/" + "%zz%" × ${largestAttack}: the largest accepted`,
    path: attack(largestAttack),
    config: c10,
    expect: ORDERS,
  },
  {
    label: `attack "%zz%" × ${largestAttack + 1}: 1 over the cap, refused`,
    path: attack(largestAttack + 1),
    config: c10,
    expect: "path_invalid",
  },
  {
    label: `attack "%zz%" × ${(MAX_PATH_BYTES - 8) / 4}: the reported 8 KiB path, refused`,
    path: attack((MAX_PATH_BYTES - 8) / 4),
    config: c10,
    expect: "path_invalid",
  },
  {
    label: "every reading live: a mixed unit repeated to 2 KiB, refused for its segments",
    path: mixed,
    config: c10,
    expect: "path_invalid",
  },
  {
    label: `every reading live: one of each, "/" to ${MAX_READ_PATH_SEGMENTS} separators, escapes to 2 KiB (the worst accepted)`,
    path: worst,
    config: c10,
    expect: ORDERS,
  },
  {
    label: 'every reading live: one of each, then "/" to 2 KiB (the worst before the segment cap), refused',
    path: overSegments,
    config: c10,
    expect: "path_invalid",
  },
  {
    label: 'the worst found as the gateway sees it (no "\\", no dot segments: URL-parsed)',
    path: worstGateway,
    config: c10,
    expect: ORDERS,
  },
  {
    label: "plain 8 KiB: one segment of letters",
    path: padded("/orders/", "abcdefgh", "", MAX_PATH_BYTES),
    config: c10,
    expect: ORDERS,
  },
  {
    label: `plain: ${MAX_PATH_SEGMENTS} one-letter segments (the most accepted)`,
    path: `/orders${"/a".repeat(MAX_PATH_SEGMENTS - 1)}`,
    config: c10,
    expect: ORDERS,
  },
  {
    label: "plain 8 KiB: one-letter segments, refused",
    path: padded("/orders/", "a/", "a", MAX_PATH_BYTES),
    config: c10,
    expect: "path_invalid",
  },
  {
    label: 'plain 8 KiB upper case + ".json": one segment (case, suffix readings)',
    path: padded("/orders/", "ABCDEFGH", ".json", MAX_PATH_BYTES),
    config: c10,
    expect: ORDERS,
  },
  {
    label: `plain upper case + ".json": ${MAX_PATH_SEGMENTS} one-letter segments (case, suffix readings)`,
    path: `/orders${"/A".repeat(MAX_PATH_SEGMENTS - 2)}/A.json`,
    config: c10,
    expect: ORDERS,
  },
  { label: `normal path /orders/42, ${MAX_POLICY_ROUTES} rules`, path: "/orders/42", config: c500, expect: ORDERS },
  { label: `the worst accepted, ${MAX_POLICY_ROUTES} rules`, path: worst, config: c500, expect: ORDERS },
];

/** What the judgement answers: the rule's path, or the refusal's code. */
function outcome(/** @type {(typeof ROWS)[number]} */ row) {
  try {
    const rule = selectRule(row.config.rules, "GET", row.path, row.config.pathReadings);
    return typeof rule === "string" ? rule : rule.path;
  } catch (e) {
    return /** @type {any} */ (e).code ?? String(e);
  }
}
function distinctReadings(/** @type {string} */ path) {
  try {
    return String(readingsOf(path).length);
  } catch {
    return "—";
  }
}

/** One batch: `calls` judgements of the row; refusals are caught, as the Worker catches them. */
function batch(/** @type {(typeof ROWS)[number]} */ row, /** @type {number} */ calls) {
  const { rules, pathReadings } = row.config;
  const fn = row.memo ? selectRuleMemo : selectRule;
  const path = row.path;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    try {
      fn(rules, "GET", path, pathReadings);
    } catch {
      // a refusal: its cost (the AuthError) is part of the judgement
    }
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return { cpuUs: (cpu.user + cpu.system) / calls, wallUs: (wallMs * 1000) / calls, wallMs };
}

/** Calls per batch for about batchMs: doubling from 1, bounded in calls and time. */
function calibrate(/** @type {(typeof ROWS)[number]} */ row) {
  let calls = 1;
  for (;;) {
    const { wallMs } = batch(row, calls);
    if (wallMs >= batchMs / 4 || calls >= MAX_BATCH_CALLS)
      return Math.max(1, Math.min(MAX_BATCH_CALLS, Math.round((calls * batchMs) / Math.max(wallMs, 1e-3))));
    calls *= 2;
  }
}

const outcomes = ROWS.map(outcome);
const readings = ROWS.map((r) => distinctReadings(r.path));
const calls = ROWS.map(calibrate); // also the warm-up
log(`${ROWS.length} rows; up to ${rounds} rounds of ${batchMs} ms batches`);
/** @type {number[][]} CPU µs per judgement, per row, per round */
const cpuUs = ROWS.map(() => []);
/** @type {number[][]} */
const wallUs = ROWS.map(() => []);
const start = performance.now();
let done = 0;
for (let r = 0; r < rounds && performance.now() - start < DEADLINE_MS; r++, done++) {
  const order = ROWS.map((_, i) => i);
  if (r % 2) order.reverse();
  for (const i of order) {
    const b = batch(/** @type {(typeof ROWS)[number]} */ (ROWS[i]), /** @type {number} */ (calls[i]));
    cpuUs[i]?.push(b.cpuUs);
    wallUs[i]?.push(b.wallUs);
  }
}
const seconds = (performance.now() - start) / 1000;

const base = /** @type {number[]} */ (cpuUs[0]);
const fmtUs = (/** @type {number} */ x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtX = (/** @type {number} */ x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const rows = ROWS.map((row, i) => {
  const us = median(/** @type {number[]} */ (cpuUs[i]));
  const ratio = median(/** @type {number[]} */ (cpuUs[i]).map((x, k) => x / /** @type {number} */ (base[k])));
  return {
    label: row.label,
    chars: row.path.length,
    rules: row.config.rules.length,
    readings: readings[i],
    outcome: outcomes[i],
    expect: row.expect,
    us,
    ratio,
    wallUs: median(/** @type {number[]} */ (wallUs[i])),
    calls: calls[i],
  };
});
const lines = [
  `\nPath judging (selectRule, GET, POLICY.readings both on; Node ${process.version}): ${done} rounds of ${batchMs} ms batches in ${seconds.toFixed(1)} s. Medians; ratios are medians of per-round ratios.\n`,
  "| path | chars | rules | readings | outcome | CPU µs per judgement | × /orders/42 |",
  "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
];
for (const r of rows) {
  const flag = r.outcome === r.expect ? "" : ` (**expected ${r.expect}**)`;
  lines.push(
    `| ${r.label} | ${r.chars} | ${r.rules} | ${r.readings} | ${r.outcome}${flag} | ${fmtUs(r.us)} | ${fmtX(r.ratio)} |`,
  );
}
const max = rows.reduce((a, b) => (b.us > a.us ? b : a));
lines.push("", `max over all rows: ${fmtUs(max.us)} µs per judgement (${max.label})`);
const slow = rows.filter((r) => r.us > SLOW_US);
if (slow.length > 0)
  lines.push(`**over ${SLOW_US} µs per judgement: ${slow.map((r) => `${r.label} (${fmtUs(r.us)} µs)`).join("; ")}**`);
const unexpected = rows.filter((r) => r.outcome !== r.expect);
if (unexpected.length > 0)
  lines.push(
    `**outcome not the expected one: ${unexpected.map((r) => `${r.label}: ${r.outcome}, expected ${r.expect}`).join("; ")}**`,
  );
console.log(lines.join("\n"));

mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(
  join(ROOT, "bench", "results", "paths.json"),
  JSON.stringify(
    { node: process.version, at: new Date().toISOString(), rounds: done, batchMs, rows, perRound: { cpuUs, wallUs } },
    null,
    2,
  ),
);

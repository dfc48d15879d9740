// The decomposition benchmark: where the project's extra CPU over a pass-through goes, measured
// without the per-process spread of the load benchmark. One Worker (bench/workers/decompose) holds
// the pass-through, the contract's floor step by step (forwarding with the identity headers, no
// authorization), the minimal jose Worker and the project's gateway; each request to it runs one of them `n` times
// in a row, and the CPU that workerd spent on that request (schedstat, in ns) divided by n is that
// target's CPU per forwarded request. The targets alternate request by request, in an order that
// reverses every repetition, and every figure is first taken against the pass-through of the same
// repetition. See bench/README.md, "The decomposition".
//
//   npm run bench:decompose -- [--reps N] [--n N] [--no-pin]
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cleanupStack, pinTo, runNs } from "./lib/proc.mjs";
import { startOriginAndIssuer } from "./lib/servers.mjs";
import { median } from "./lib/table.mjs";
import { AUDIENCE, contractIdentityHeaders, makeKeys, mintMany, SCOPE } from "./lib/tokens.mjs";
import { seedRevocations } from "./lib/seed.mjs";
import { bundle, ROOT, startWorker } from "./lib/workers.mjs";

delete process.env.CLOUDFLARE_ENV;

const { values: flags } = parseArgs({
  options: {
    reps: { type: "string", default: "200" },
    n: { type: "string", default: "25" },
    "no-pin": { type: "boolean", default: false },
  },
});
const reps = Math.min(2_000, Math.max(5, Math.round(Number(flags.reps)) || 200));
// Few forwards per request: the project's origin timer of each forward stays pending until the
// request ends, so a long run in one request would measure a crowded timer queue.
const n = Math.min(200, Math.max(5, Math.round(Number(flags.n)) || 25));
const REQUEST_TIMEOUT_MS = 60_000;
const TARGETS = /** @type {const} */ ([
  "passthrough",
  "floor-copy",
  "floor-strip",
  "floor",
  "floor-timer",
  "jose",
  "project",
  "project-full",
]);
const REVOCATIONS = 100_000;
const LABELS = {
  passthrough: "pass-through",
  "floor-copy": "floor step 1: the client's headers copied",
  "floor-strip": "floor step 2: + X-Auth-*/hop-by-hop removed (a scan of the names)",
  floor: "contract floor: + the identity headers (no authorization)",
  "floor-timer": "contract floor + the project's origin timer",
  jose: "jose",
  project: "project, no revocations",
  "project-full": "project, 100 000 revocations",
};

const log = (/** @type {string} */ s) => process.stderr.write(`[decompose] ${s}\n`);
const cleanups = cleanupStack(log);

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), "bench-decompose-"));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  const keys = await makeKeys();
  const { origin, issuer } = await startOriginAndIssuer(keys.jwks, cleanups);
  const iss = issuer.url;
  const config = join(ROOT, "bench/workers/decompose/wrangler.toml");
  const [entry, [token]] = await Promise.all([
    bundle(config, join(tmp, "decompose")),
    mintMany(keys.keys.ES256, iss, 1, "decompose"),
  ]);
  const worker = await startWorker({
    name: "bench-decompose",
    config,
    entry,
    vars: {
      ORIGIN_URL: origin.url,
      ISSUERS: [
        { issuer: iss, jwksUri: issuer.jwksUri("project"), audiences: [AUDIENCE], algorithms: ["ES256", "RS256"] },
      ],
      POLICY: { routes: [{ path: "/api/*", require: { scopes: [SCOPE] } }] },
      ADMIN_TOKENS: "bench-admin-token-0000000001",
      LOG_DECISIONS: "denials",
      JWKS_URI: issuer.jwksUri("jose"),
      ISSUER: iss,
      AUDIENCE,
      IDENTITY_HEADERS: contractIdentityHeaders(/** @type {string} */ (token)),
    },
  });
  cleanups.push(() => worker.dispose());
  await seedRevocations(worker, {
    count: REVOCATIONS,
    iss,
    revokedJti: crypto.randomUUID(),
    binding: "REVOCATIONS_FULL",
  });
  const cpuCount = cpus().length;
  const helpers = [process.pid, origin.pid, issuer.pid];
  if (!flags["no-pin"] && cpuCount >= 2) {
    const all = `0-${cpuCount - 1}`;
    cleanups.push(() => pinTo([...helpers], all));
    if (!(pinTo(worker.pids, String(cpuCount - 1)) && pinTo(helpers, cpuCount === 2 ? "0" : `0-${cpuCount - 2}`)))
      pinTo([...worker.pids, ...helpers], all);
  }

  const headers = { authorization: `Bearer ${token}`, "user-agent": "bench-decompose" };
  /** @param {string} target @param {number} count */
  const call = async (target, count) => {
    const res = await fetch(new URL(`/?target=${target}&n=${count}`, worker.url), {
      headers,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = await res.text();
    if (res.status !== 200 || body !== "200")
      throw new Error(`${target}: answered ${res.status} ${body.slice(0, 200)}`);
  };
  // Warm: JIT, the JWKS of the jose Worker and the project, the project's caches and revocation view.
  for (const t of TARGETS) await call(t, 100);
  const view = /** @type {{ entries: number }} */ (
    await (await fetch(new URL("/?view", worker.url), { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })).json()
  );
  if (view.entries !== REVOCATIONS)
    throw new Error(`the seeded view holds ${view.entries} entries, not ${REVOCATIONS}`);
  log(`warm; ${reps} repetitions of ${n} forwards per target`);

  /** @type {Record<string, number[]>} µs per forward, per repetition */
  const us = Object.fromEntries(TARGETS.map((t) => [t, []]));
  for (let r = 0; r < reps; r++) {
    for (const t of r % 2 ? [...TARGETS].reverse() : TARGETS) {
      const before = runNs(worker.pids);
      await call(t, n);
      us[t]?.push((runNs(worker.pids) - before) / 1_000 / n);
    }
  }
  print(us);
}

const signed = (/** @type {number} */ x, digits = 0) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(digits)}`;

/** @param {Record<string, number[]>} us */
function print(us) {
  const pass = /** @type {number[]} */ (us.passthrough);
  const over = (/** @type {string} */ t) =>
    /** @type {number[]} */ (us[t]).map((x, i) => x - /** @type {number} */ (pass[i]));
  const joseExtra = over("jose");
  const lines = [
    `\nOne isolate, ${reps} repetitions × ${n} forwards per target (cached token for the project; jose verifies every time). Medians; "over" figures are medians of per-repetition differences.\n`,
    "| target | CPU µs per forward | over the pass-through | ÷ jose's extra |",
    "| --- | ---: | ---: | ---: |",
  ];
  for (const t of TARGETS) {
    const extra = over(t);
    const ratio = median(extra.map((x, i) => x / /** @type {number} */ (joseExtra[i])));
    lines.push(
      `| ${LABELS[t]} | ${median(/** @type {number[]} */ (us[t])).toFixed(0)} | ${t === "passthrough" ? "—" : `+${median(extra).toFixed(0)}`} | ${t === "passthrough" ? "—" : ratio.toFixed(2)} |`,
    );
  }
  const minus = (/** @type {string} */ a, /** @type {string} */ b) =>
    median(
      /** @type {number[]} */ (us[a]).map((x, i) => x - /** @type {number} */ (/** @type {number[]} */ (us[b])[i])),
    ).toFixed(0);
  lines.push(
    "",
    `project − contract floor (what authorization adds: token cache, revocation, policy, origin timer): +${minus("project", "floor")} µs per forward`,
    `of which the origin timer (floor with it − floor): +${minus("floor-timer", "floor")} µs; the rest (token cache, revocation, policy): +${minus("project", "floor-timer")} µs`,
    `100 000 revocations vs none: ${signed(Number(minus("project-full", "project")))} µs per forward, ${signed((100 * Number(minus("project-full", "project"))) / median(/** @type {number[]} */ (us.project)), 1)} % of the project's CPU`,
  );
  console.log(lines.join("\n"));
}

try {
  await main();
} catch (e) {
  console.error(`bench:decompose failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
} finally {
  await cleanups.run();
}

// The decomposition benchmark: where the project's extra CPU over a pass-through goes, measured
// without the per-process spread of the load benchmark. One Worker (bench/workers/decompose) holds
// the pass-through, the contract's floor step by step (forwarding with the identity headers, no
// authorization), the minimal jose Worker and the project's gateway; each request to it runs one of them `n` times
// in a row, and the CPU that workerd spent on that request (schedstat, in ns) divided by n is that
// target's CPU per forwarded request. The targets alternate request by request, in an order that
// reverses every repetition, and every figure is first taken against the pass-through of the same
// repetition. See bench/README.md, "The decomposition".
//
// Two more rows of the project. A DPoP-bound token (cnf.jkt) with a new proof on every forward: the
// proofs are signed here with jose, n of them before each repetition (outside the time taken), and
// sent in the body of every target's request, so the Worker's CPU is the authorizer's, not the
// client's. And the project as of an older commit (--before, fcfa792: the commit before DPoP), its
// src extracted with git archive and bundled into the same Worker, so the cached Bearer token is
// measured before and after in the same isolate.
//
//   npm run bench:decompose -- [--reps N] [--n N] [--before REV] [--no-pin]
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from "jose";
import { cleanupStack, pinTo, runNs } from "./lib/proc.mjs";
import { startOriginAndIssuer } from "./lib/servers.mjs";
import { median } from "./lib/table.mjs";
import { AUDIENCE, contractIdentityHeaders, makeKeys, mint, mintMany, SCOPE } from "./lib/tokens.mjs";
import { seedRevocations } from "./lib/seed.mjs";
import { bundle, extractTree, ROOT, startWorker } from "./lib/workers.mjs";

delete process.env.CLOUDFLARE_ENV;

const { values: flags } = parseArgs({
  options: {
    reps: { type: "string", default: "200" },
    n: { type: "string", default: "25" },
    before: { type: "string", default: "fcfa792" },
    "no-pin": { type: "boolean", default: false },
  },
});
const reps = Math.min(2_000, Math.max(5, Math.round(Number(flags.reps)) || 200));
// Few forwards per request: the project's origin timer of each forward stays pending until the
// request ends, so a long run in one request would measure a crowded timer queue.
const n = Math.min(200, Math.max(5, Math.round(Number(flags.n)) || 25));
const REQUEST_TIMEOUT_MS = 60_000;
/** No repetition is started after this long (the default run takes about a minute). */
const MAX_LOOP_MS = 10 * 60_000;
// The commit the "before" rows are built from; "HEAD" measures two copies of the same code (an A/A check).
const beforeRev = (() => {
  try {
    return execFileSync("git", ["rev-parse", "--short", "--verify", `${flags.before}^{commit}`], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 10_000,
    }).trim();
  } catch {
    throw new Error(`--before: ${flags.before} is not a commit of this repository`);
  }
})();
const REVOCATIONS = 100_000;
/** The URL the Worker's GETs name (bench/workers/decompose/index.ts): a proof's htu, without the query. */
const HTU = "http://bench.example/api/orders/42";
/** @type {Record<string, string>} */
const LABELS = {
  passthrough: "pass-through",
  "floor-copy": "floor step 1: the client's headers copied",
  "floor-strip": "floor step 2: + X-Auth-*/hop-by-hop removed (a scan of the names)",
  floor: "contract floor: + the identity headers (no authorization)",
  "floor-timer": "contract floor + the project's origin timer",
  jose: "jose",
  project: "project, no revocations",
  "project-full": "project, 100 000 revocations",
  "project-dpop": "project, DPoP-bound token + a new proof each request, no revocations",
  "project-before": `project as of ${beforeRev}, no revocations`,
  "project-before-dpop": `project as of ${beforeRev}, DPoP-bound token + a new proof each request`,
};
/** Targets whose requests present the DPoP-bound token with the DPoP scheme (and a proof per forward). */
const DPOP = new Set(["project-dpop", "project-before-dpop"]);

const log = (/** @type {string} */ s) => process.stderr.write(`[decompose] ${s}\n`);
const cleanups = cleanupStack(log);

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), "bench-decompose-"));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  const keys = await makeKeys();
  const { origin, issuer } = await startOriginAndIssuer(keys.jwks, cleanups);
  const iss = issuer.url;
  // The older commit's tree, and a copy of the Worker's config that maps bench-decompose:before to
  // its gateway (the same bundle, so the same isolate, holds both versions).
  const tree = join(tmp, "before");
  extractTree(beforeRev, tree);
  const beforeHasDpop = existsSync(join(tree, "src/sender/check.ts"));
  const TARGETS = [
    "passthrough",
    "floor-copy",
    "floor-strip",
    "floor",
    "floor-timer",
    "jose",
    "project",
    "project-full",
    "project-dpop",
    "project-before",
    ...(beforeHasDpop ? ["project-before-dpop"] : []),
  ];
  const ownConfig = join(ROOT, "bench/workers/decompose/wrangler.toml");
  const config = join(tmp, "wrangler.toml");
  const own = readFileSync(ownConfig, "utf8");
  const MAIN = /^main = "index.ts"$/m;
  if (!MAIN.test(own)) throw new Error(`${ownConfig}: expected the line main = "index.ts"`);
  const mainLine = `main = ${JSON.stringify(join(ROOT, "bench/workers/decompose/index.ts"))}`;
  const alias = `"bench-decompose:before" = ${JSON.stringify(join(tree, "src/routes/gateway.ts"))}`;
  writeFileSync(config, `${own.replace(MAIN, mainLine)}\n[alias]\n${alias}\n`);
  log(`the project as of ${beforeRev} extracted (git archive); bundling`);

  // The DPoP client: its key, the token bound to it (the same claims as the Bearer token's but cnf),
  // and the proofs, each signed for one forward (jti, htm, htu, iat, ath).
  const client = await generateKeyPair("ES256", { extractable: true });
  const clientJwk = await exportJWK(client.publicKey);
  const jkt = await calculateJwkThumbprint(clientJwk, "sha256");
  const [entry, [token], dpopToken] = await Promise.all([
    bundle(config, join(tmp, "decompose")),
    mintMany(keys.keys.ES256, iss, 1, "decompose"),
    mint(keys.keys.ES256, iss, { sub: "decompose-1", sid: "decompose-s1", cnf: { jkt } }),
  ]);
  const ath = createHash("sha256").update(dpopToken).digest("base64url");
  /** @param {number} count @returns {Promise<string>} count proofs, one a line */
  const proofs = async (count) => {
    const iat = Math.floor(Date.now() / 1000);
    const signed = [];
    for (let i = 0; i < count; i++)
      signed.push(
        new SignJWT({ jti: crypto.randomUUID(), htm: "GET", htu: HTU, iat, ath })
          .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: clientJwk })
          .sign(client.privateKey),
      );
    return (await Promise.all(signed)).join("\n");
  };

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

  const bearer = { authorization: `Bearer ${token}`, "user-agent": "bench-decompose" };
  const dpop = { authorization: `DPoP ${dpopToken}`, "user-agent": "bench-decompose" };
  /**
   * The last status of `count` forwards of `target`, each GET with the next proof of `body`.
   * @param {string} target @param {number} count @param {string} body @param {Record<string, string>} [headers]
   */
  const send = async (target, count, body, headers = DPOP.has(target) ? dpop : bearer) => {
    const res = await fetch(new URL(`/?target=${target}&n=${count}`, worker.url), {
      method: "POST",
      headers,
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return `${res.status} ${(await res.text()).slice(0, 200)}`;
  };
  /** @param {string} target @param {number} count @param {string} body */
  const call = async (target, count, body) => {
    const answer = await send(target, count, body);
    if (answer !== "200 200") throw new Error(`${target}: answered ${answer}`);
  };
  // Warm: JIT, the JWKS of the jose Worker and the project, the project's caches and revocation view.
  for (const t of TARGETS) await call(t, 100, await proofs(100));
  // What the DPoP rows measure: a bound token is refused without its proof, and a proof once only.
  const used = await proofs(1);
  await call("project-dpop", 1, used);
  /** @type {[string, string][]} */
  const refusals = [
    [
      "the DPoP-bound token sent as a Bearer token",
      await send("project", 1, used, { ...bearer, authorization: `Bearer ${dpopToken}` }),
    ],
    ["a proof sent a second time", await send("project-dpop", 1, used)],
  ];
  // And that the "before" rows run the older code: before DPoP, a DPoP request is refused.
  if (!beforeHasDpop)
    refusals.push([`a DPoP request to ${beforeRev}`, await send("project-before", 1, await proofs(1), dpop)]);
  for (const [what, answer] of refusals)
    if (answer !== "200 401") throw new Error(`${what}: answered ${answer}, not 401`);
  const view = /** @type {{ entries: number }} */ (
    await (await fetch(new URL("/?view", worker.url), { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })).json()
  );
  if (view.entries !== REVOCATIONS)
    throw new Error(`the seeded view holds ${view.entries} entries, not ${REVOCATIONS}`);
  log(`warm, ${refusals.length} refusals checked; ${reps} repetitions of ${n} forwards per target`);

  /** @type {Record<string, number[]>} µs per forward, per repetition */
  const us = Object.fromEntries(TARGETS.map((t) => [t, []]));
  const deadline = Date.now() + MAX_LOOP_MS;
  let done = 0;
  for (; done < reps && Date.now() < deadline; done++) {
    // The repetition's proofs, signed before any of it is timed; every target's request carries them.
    const body = await proofs(n);
    for (const t of done % 2 ? [...TARGETS].reverse() : TARGETS) {
      const before = runNs(worker.pids);
      await call(t, n, body);
      us[t]?.push((runNs(worker.pids) - before) / 1_000 / n);
    }
  }
  if (done < reps) log(`stopped after ${done} repetitions: ${MAX_LOOP_MS / 60_000} minutes passed`);
  print(us, TARGETS, done);
}

const signed = (/** @type {number} */ x, digits = 0) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(digits)}`;

/** @param {Record<string, number[]>} us @param {string[]} targets @param {number} done repetitions */
function print(us, targets, done) {
  const pass = /** @type {number[]} */ (us.passthrough);
  const of = (/** @type {string} */ t) => /** @type {number[]} */ (us[t]);
  const over = (/** @type {string} */ t) => of(t).map((x, i) => x - /** @type {number} */ (pass[i]));
  const joseExtra = over("jose");
  const lines = [
    `\nOne isolate, ${done} repetitions × ${n} forwards per target (cached token for the project; jose verifies every time; a new DPoP proof each forward). Medians; "over" figures are medians of per-repetition differences, ratios medians of per-repetition ratios.\n`,
    "| target | CPU µs per forward | over the pass-through | ÷ jose's extra |",
    "| --- | ---: | ---: | ---: |",
  ];
  for (const t of targets) {
    const extra = over(t);
    const ratio = median(extra.map((x, i) => x / /** @type {number} */ (joseExtra[i])));
    lines.push(
      `| ${LABELS[t]} | ${median(of(t)).toFixed(0)} | ${t === "passthrough" ? "—" : signed(median(extra))} | ${t === "passthrough" ? "—" : ratio.toFixed(2)} |`,
    );
  }
  /** Median of per-repetition a − b. */
  const minus = (/** @type {string} */ a, /** @type {string} */ b) =>
    median(of(a).map((x, i) => x - /** @type {number} */ (of(b)[i])));
  /** Median of per-repetition a ÷ b: CPU per forward, or (extra) CPU over the pass-through. */
  const times = (/** @type {string} */ a, /** @type {string} */ b, extra = false) => {
    const [x, y] = extra ? [over(a), over(b)] : [of(a), of(b)];
    return median(x.map((v, i) => v / /** @type {number} */ (y[i]))).toFixed(2);
  };
  const pct = (/** @type {string} */ a, /** @type {string} */ b) => signed((100 * minus(a, b)) / median(of(b)), 1);
  lines.push(
    "",
    `project − contract floor (what authorization adds: token cache, revocation, policy, origin timer): ${signed(minus("project", "floor"))} µs per forward`,
    `of which the origin timer (floor with it − floor): ${signed(minus("floor-timer", "floor"))} µs; the rest (token cache, revocation, policy): ${signed(minus("project", "floor-timer"))} µs`,
    `100 000 revocations vs none: ${signed(minus("project-full", "project"))} µs per forward, ${pct("project-full", "project")} % of the project's CPU`,
    `DPoP-bound token + proof vs the cached Bearer token: ${signed(minus("project-dpop", "project"))} µs per forward; CPU × ${times("project-dpop", "project")}; extra over the pass-through × ${times("project-dpop", "project", true)}; (DPoP − Bearer) ÷ jose's extra ${median(of("project-dpop").map((x, i) => (x - /** @type {number} */ (of("project")[i])) / /** @type {number} */ (joseExtra[i]))).toFixed(2)}`,
    `DPoP-bound token + proof vs jose: CPU × ${times("project-dpop", "jose")}; extra over the pass-through × ${times("project-dpop", "jose", true)}`,
    `cached Bearer token, this tree vs ${beforeRev}: ${signed(minus("project", "project-before"))} µs per forward, ${pct("project", "project-before")} %; CPU × ${times("project", "project-before")}; extra over the pass-through × ${times("project", "project-before", true)}`,
  );
  if (targets.includes("project-before-dpop"))
    lines.push(
      `DPoP-bound token + proof, this tree vs ${beforeRev}: ${signed(minus("project-dpop", "project-before-dpop"))} µs per forward; CPU × ${times("project-dpop", "project-before-dpop")}; extra over the pass-through × ${times("project-dpop", "project-before-dpop", true)}`,
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

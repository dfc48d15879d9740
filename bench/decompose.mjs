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
// measured before and after in the same isolate. Two more DPoP rows, the same proofs made otherwise:
// with nonces required (SENDER_CONSTRAINTS.dpop.nonce and a DPOP_NONCE_SECRET; each proof carries
// the nonce the Worker hands out, asked for before the repetition) and with network-wide replay
// (proofReplay "network" on the rule: each proof also claimed in the key's DpopReplay Durable
// Object, which here runs in the same workerd process). Each runs the same gateway on an env of its
// own. Wall-clock time per forward is taken too, for the Durable Object's round trip.
//
//   npm run bench:decompose -- [--reps N] [--n N] [--before REV] [--no-pin]
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from "jose";
import { cleanupStack, pinTo, runNs, sleep } from "./lib/proc.mjs";
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
/** The nonce row's window: SENDER_CONSTRAINTS.dpop.nonceLifetimeSeconds, left at its default (src/config.ts). */
const NONCE_LIFETIME_MS = 300_000;
/**
 * No repetition starts this close to the end of a nonce window (the bench waits for the next one and
 * asks for its nonce): each proof's nonce is the current one, never the previous window's, which the
 * Worker still accepts but answers with a new nonce. A repetition takes well under a second.
 */
const NONCE_MARGIN_MS = 5_000;
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
  "project-dpop-nonce": "project, DPoP as above, nonces required (each proof with the current nonce)",
  "project-dpop-network":
    "project, DPoP as above, network-wide replay (each proof claimed in its key's Durable Object)",
  "project-before": `project as of ${beforeRev}, no revocations`,
  "project-before-dpop": `project as of ${beforeRev}, DPoP-bound token + a new proof each request`,
};
/**
 * Targets whose requests present the DPoP-bound token with the DPoP scheme (and a proof per
 * forward), and which slice of the repetition's proofs each one's forwards carry: a repetition signs
 * n proofs without a nonce, n with the current nonce and n more without, and every target's request
 * carries all 3n as its body. project-dpop-network-other is not timed: the network target's settings
 * on an env of their own, another replay memory (another isolate, as it were), for the check below.
 * @type {Record<string, number>}
 */
const DPOP = {
  "project-dpop": 0,
  "project-before-dpop": 0,
  "project-dpop-nonce": 1,
  "project-dpop-network": 2,
  "project-dpop-network-other": 2,
};

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
    "project-dpop-nonce",
    "project-dpop-network",
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
  /** @param {number} count @param {string} [nonce] @returns {Promise<string[]>} count proofs */
  const proofs = async (count, nonce) => {
    const iat = Math.floor(Date.now() / 1000);
    const signed = [];
    for (let i = 0; i < count; i++)
      signed.push(
        new SignJWT({
          jti: crypto.randomUUID(),
          htm: "GET",
          htu: HTU,
          iat,
          ath,
          ...(nonce === undefined ? {} : { nonce }),
        })
          .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: clientJwk })
          .sign(client.privateKey),
      );
    return Promise.all(signed);
  };
  /**
   * The body of every target's request of a repetition of `count` forwards: the proofs of each slice
   * of DPOP, one a line.
   * @param {number} count @param {string} nonce
   */
  const bodyOf = async (count, nonce) =>
    (await Promise.all([proofs(count), proofs(count, nonce), proofs(count)])).flat().join("\n");

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
      // The nonce and network targets' settings (bench/workers/decompose/index.ts puts them in
      // their own envs as SENDER_CONSTRAINTS, DPOP_NONCE_SECRET and POLICY).
      NONCE_SENDER_CONSTRAINTS: { dpop: { nonce: true } },
      NONCE_SECRET: "bench-decompose-dpop-nonce-secret-0000000001",
      NETWORK_POLICY: { routes: [{ path: "/api/*", require: { scopes: [SCOPE] }, proofReplay: "network" }] },
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
   * `count` forwards of `target`, each GET with its proof of `body` (DPOP's slice): the last status,
   * the last DPoP-Nonce handed out and how many forwards were handed one.
   * @param {string} target @param {number} count @param {string} body @param {Record<string, string>} [headers]
   */
  const send = async (target, count, body, headers = target in DPOP ? dpop : bearer) => {
    const offset = (DPOP[target] ?? 0) * count;
    const res = await fetch(new URL(`/?target=${target}&n=${count}&offset=${offset}`, worker.url), {
      method: "POST",
      headers,
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return {
      answer: `${res.status} ${(await res.text()).slice(0, 200)}`,
      nonce: res.headers.get("DPoP-Nonce"),
      nonces: res.headers.get("X-Bench-Nonces"),
    };
  };
  /** @param {string} target @param {number} count @param {string} body */
  const call = async (target, count, body) => {
    const { answer, nonces } = await send(target, count, body);
    if (answer !== "200 200") throw new Error(`${target}: answered ${answer}`);
    // Every proof of the nonce row carried the current nonce: none was answered with the next one.
    if (nonces !== "0") throw new Error(`${target}: ${nonces} of ${count} forwards were handed a new DPoP nonce`);
  };
  // The nonce the Worker hands out now: a proof without one is refused with it (401, DPoP-Nonce),
  // as a client learns it. Asked for again once its window is over, and never in a window's last
  // seconds (NONCE_MARGIN_MS), so that no repetition runs into the next window.
  let nonce = { value: "", window: -1 };
  const currentNonce = async () => {
    const left = NONCE_LIFETIME_MS - (Date.now() % NONCE_LIFETIME_MS);
    if (left < NONCE_MARGIN_MS) await sleep(left + 250);
    const window = Math.floor(Date.now() / NONCE_LIFETIME_MS);
    if (window !== nonce.window) {
      // Proofs without a nonce in every slice; the nonce row's is the second.
      const { answer, nonce: value } = await send("project-dpop-nonce", 1, (await proofs(3)).join("\n"));
      if (answer !== "200 401" || value === null)
        throw new Error(`a proof without a nonce, nonces required: answered ${answer}, DPoP-Nonce ${value}`);
      nonce = { value, window };
    }
    return nonce.value;
  };
  // Warm: JIT, the JWKS of the jose Worker and the project, the project's caches and revocation view.
  for (const t of TARGETS) await call(t, 100, await bodyOf(100, await currentNonce()));
  // What the DPoP rows measure: a bound token is refused without its proof, and a proof once only;
  // a proof without the nonce is refused where nonces are required (currentNonce checks that); the
  // network row's proofs are claimed in the Durable Object: one it accepted is refused by a second
  // copy of its settings, whose replay memory never saw it (as another isolate's would not).
  const used = await bodyOf(1, await currentNonce());
  await call("project-dpop", 1, used);
  await call("project-dpop-network", 1, used);
  /** @type {[string, string][]} */
  const refusals = [
    [
      "the DPoP-bound token sent as a Bearer token",
      (await send("project", 1, used, { ...bearer, authorization: `Bearer ${dpopToken}` })).answer,
    ],
    ["a proof sent a second time", (await send("project-dpop", 1, used)).answer],
    [
      "a proof claimed in the Durable Object, sent to another replay memory",
      (await send("project-dpop-network-other", 1, used)).answer,
    ],
  ];
  await call("project-dpop-network-other", 1, await bodyOf(1, await currentNonce()));
  // And that the "before" rows run the older code: before DPoP, a DPoP request is refused.
  if (!beforeHasDpop)
    refusals.push([
      `a DPoP request to ${beforeRev}`,
      (await send("project-before", 1, (await proofs(1)).join("\n"), dpop)).answer,
    ]);
  for (const [what, answer] of refusals)
    if (answer !== "200 401") throw new Error(`${what}: answered ${answer}, not 401`);
  const view = /** @type {{ entries: number }} */ (
    await (await fetch(new URL("/?view", worker.url), { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })).json()
  );
  if (view.entries !== REVOCATIONS)
    throw new Error(`the seeded view holds ${view.entries} entries, not ${REVOCATIONS}`);
  log(`warm, ${refusals.length} refusals checked; ${reps} repetitions of ${n} forwards per target`);

  /** @type {Record<string, number[]>} CPU µs per forward, per repetition */
  const us = Object.fromEntries(TARGETS.map((t) => [t, []]));
  /** @type {Record<string, number[]>} wall-clock µs per forward (the bench's request ÷ n), per repetition */
  const wall = Object.fromEntries(TARGETS.map((t) => [t, []]));
  const deadline = Date.now() + MAX_LOOP_MS;
  let done = 0;
  for (; done < reps && Date.now() < deadline; done++) {
    // The repetition's proofs, signed before any of it is timed; every target's request carries them.
    const body = await bodyOf(n, await currentNonce());
    for (const t of done % 2 ? [...TARGETS].reverse() : TARGETS) {
      const [before, started] = [runNs(worker.pids), performance.now()];
      await call(t, n, body);
      us[t]?.push((runNs(worker.pids) - before) / 1_000 / n);
      wall[t]?.push(((performance.now() - started) * 1_000) / n);
    }
  }
  if (done < reps) log(`stopped after ${done} repetitions: ${MAX_LOOP_MS / 60_000} minutes passed`);
  print(us, wall, TARGETS, done);
}

const signed = (/** @type {number} */ x, digits = 0) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(digits)}`;

/**
 * @param {Record<string, number[]>} us @param {Record<string, number[]>} wall @param {string[]} targets
 * @param {number} done repetitions
 */
function print(us, wall, targets, done) {
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
  const wallOf = (/** @type {string} */ t) => /** @type {number[]} */ (wall[t]);
  /** Median of per-repetition a − b and a ÷ b of the wall-clock time per forward. */
  const wallMinus = (/** @type {string} */ a, /** @type {string} */ b) =>
    median(wallOf(a).map((x, i) => x - /** @type {number} */ (wallOf(b)[i])));
  const wallTimes = (/** @type {string} */ a, /** @type {string} */ b) =>
    median(wallOf(a).map((x, i) => x / /** @type {number} */ (wallOf(b)[i]))).toFixed(2);
  lines.push(
    "",
    `project − contract floor (what authorization adds: token cache, revocation, policy, origin timer): ${signed(minus("project", "floor"))} µs per forward`,
    `of which the origin timer (floor with it − floor): ${signed(minus("floor-timer", "floor"))} µs; the rest (token cache, revocation, policy): ${signed(minus("project", "floor-timer"))} µs`,
    `100 000 revocations vs none: ${signed(minus("project-full", "project"))} µs per forward, ${pct("project-full", "project")} % of the project's CPU`,
    `DPoP-bound token + proof vs the cached Bearer token: ${signed(minus("project-dpop", "project"))} µs per forward; CPU × ${times("project-dpop", "project")}; extra over the pass-through × ${times("project-dpop", "project", true)}; (DPoP − Bearer) ÷ jose's extra ${median(of("project-dpop").map((x, i) => (x - /** @type {number} */ (of("project")[i])) / /** @type {number} */ (joseExtra[i]))).toFixed(2)}`,
    `DPoP-bound token + proof vs jose: CPU × ${times("project-dpop", "jose")}; extra over the pass-through × ${times("project-dpop", "jose", true)}`,
    `DPoP with nonces vs DPoP: ${signed(minus("project-dpop-nonce", "project-dpop"))} µs per forward; CPU × ${times("project-dpop-nonce", "project-dpop")}; extra over the pass-through × ${times("project-dpop-nonce", "project-dpop", true)}`,
    `DPoP with network-wide replay vs DPoP: ${signed(minus("project-dpop-network", "project-dpop"))} µs per forward; CPU × ${times("project-dpop-network", "project-dpop")}; extra over the pass-through × ${times("project-dpop-network", "project-dpop", true)} (workerd's CPU: here the Durable Object runs in the same process, its CPU included)`,
    `wall-clock per forward (the bench's request ÷ ${n}; the Durable Object a call within the same process here): pass-through ${median(wall.passthrough ?? []).toFixed(0)} µs, DPoP ${median(wall["project-dpop"] ?? []).toFixed(0)} µs, with network-wide replay ${median(wall["project-dpop-network"] ?? []).toFixed(0)} µs: ${signed(wallMinus("project-dpop-network", "project-dpop"))} µs per forward, × ${wallTimes("project-dpop-network", "project-dpop")}`,
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

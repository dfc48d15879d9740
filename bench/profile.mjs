// The quick loop for performance work: the pass-through, the jose Worker and the project (no
// revocations) on one workload, in interleaved rounds, CPU per request of each and the project's
// extra CPU as a ratio of jose's; then, with --cpu-profile, one more (unmeasured) round of the
// project under V8's sampling profiler, its top functions by self time printed and the profile
// written to bench/results/ (open it in Chrome DevTools). Not the benchmark: `npm run bench` is.
//
//   npm run bench:profile -- [--workload cycled|one|distinct] [--alg ES256|RS256] [--rounds N]
//                            [--duration S] [--connections N] [--cpu-profile] [--profile-target jose]
//                            [--log all|denials]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { inspectorSession } from "./lib/inspector.mjs";
import { freePort } from "./lib/proc.mjs";
import { runRound, warm } from "./lib/round.mjs";
import { startOriginAndIssuer } from "./lib/servers.mjs";
import { median } from "./lib/table.mjs";
import { AUDIENCE, makeKeys, mintMany, SCOPE } from "./lib/tokens.mjs";
import { bundle, CONFIGS, ROOT, startWorker } from "./lib/workers.mjs";

delete process.env.CLOUDFLARE_ENV;

const { values: flags } = parseArgs({
  options: {
    workload: { type: "string", default: "cycled" },
    alg: { type: "string", default: "ES256" },
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "2" },
    connections: { type: "string", default: "8" },
    "cpu-profile": { type: "boolean", default: false },
    /** Which target the CPU profile is taken of. */
    "profile-target": { type: "string", default: "project" },
    /** The project's LOG_DECISIONS: "denials" as in the bench's headline rows, "all" to see the log's cost. */
    log: { type: "string", default: "denials" },
  },
});
const rounds = Math.min(20, Math.max(1, Number(flags.rounds)));
const durationS = Math.min(30, Math.max(1, Math.round(Number(flags.duration))));
const connections = Math.min(256, Math.max(1, Number(flags.connections)));
const alg = /** @type {"ES256" | "RS256"} */ (flags.alg === "RS256" ? "RS256" : "ES256");
const count = { one: 1, cycled: 1_000, distinct: 20_000 }[/** @type {"one"} */ (flags.workload)] ?? 1_000;

/** @type {(() => Promise<unknown> | unknown)[]} */
const cleanups = [];
const log = (/** @type {string} */ s) => process.stderr.write(`[profile] ${s}\n`);

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), "bench-profile-"));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  const keys = await makeKeys();
  const { origin, issuer } = await startOriginAndIssuer(keys.jwks, cleanups);
  const iss = issuer.url;
  const names = /** @type {const} */ (["passthrough", "jose", "project"]);
  const [entries, tokens] = await Promise.all([
    Promise.all(names.map((k) => bundle(CONFIGS[k], join(tmp, k)))),
    mintMany(keys.keys[alg], iss, count, `p-${alg}`),
  ]);
  const workload = { name: `${count} ${alg}`, alg, kind: /** @type {const} */ ("cycled"), tokens };
  const vars = {
    passthrough: { ORIGIN_URL: origin.url },
    jose: { ORIGIN_URL: origin.url, JWKS_URI: issuer.jwksUri("jose"), ISSUER: iss, AUDIENCE },
    project: {
      ORIGIN_URL: origin.url,
      ISSUERS: [
        { issuer: iss, jwksUri: issuer.jwksUri("project"), audiences: [AUDIENCE], algorithms: ["ES256", "RS256"] },
      ],
      POLICY: { routes: [{ path: "/api/*", require: { scopes: [SCOPE] } }] },
      ADMIN_TOKENS: "profile-admin-token-000000001",
      LOG_DECISIONS: flags.log,
    },
  };
  const targets = [];
  // No inspector on the measured targets: with one open, workerd formats every console.log for it.
  for (const [i, name] of names.entries()) {
    const t = await startWorker({
      name,
      config: CONFIGS[name],
      entry: /** @type {string} */ (entries[i]),
      vars: vars[name],
    });
    cleanups.push(() => t.dispose());
    targets.push({ ...t, jwksLabel: name === "passthrough" ? null : name, project: name === "project" });
    const statuses = await warm(t.url, tokens, Math.min(3_000, count * 2 + 500));
    if (Object.keys(statuses).some((s) => s !== "200"))
      throw new Error(`${name} answered ${JSON.stringify(statuses)} while warming`);
  }
  /** @type {Record<string, number[]>} */
  const cpu = { passthrough: [], jose: [], project: [] };
  /** @type {Record<string, number[]>} */
  const rps = { passthrough: [], jose: [], project: [] };
  const cursors = new Map(names.map((n) => [n, { next: 0 }]));
  for (let round = 0; round <= rounds; round++) {
    for (const t of round % 2 ? [...targets].reverse() : targets) {
      const r = await runRound({
        target: t,
        workload,
        round,
        cursor: /** @type {{ next: number }} */ (cursors.get(t.name)),
        connections,
        durationS,
        issuer,
        origin,
      });
      if (round === 0) continue; // warm-up round
      cpu[t.name]?.push(r.cpuUsPerReq);
      rps[t.name]?.push(r.rps);
      log(
        `r${round} ${t.name}: ${r.cpuUsPerReq.toFixed(0)} µs CPU/req, ${r.rps.toFixed(0)} req/s${r.ok !== r.requests ? `, ${r.requests - r.ok} not 2xx!` : ""}`,
      );
    }
  }
  const m = Object.fromEntries(names.map((n) => [n, median(/** @type {number[]} */ (cpu[n]))]));
  const pass = /** @type {number} */ (m.passthrough);
  console.log(`\n${workload.name}, ${rounds} round(s) × ${durationS} s, ${connections} connections (medians):`);
  console.log("| target | CPU µs/req | extra over pass-through | req/s |\n|---|---:|---:|---:|");
  for (const n of names)
    console.log(
      `| ${n} | ${m[n]?.toFixed(0)} | ${n === "passthrough" ? "" : `+${((m[n] ?? NaN) - pass).toFixed(0)}`} | ${median(/** @type {number[]} */ (rps[n])).toFixed(0)} |`,
    );
  const ratio = ((m.project ?? NaN) - pass) / ((m.jose ?? NaN) - pass);
  console.log(`\nproject extra / jose extra = ${ratio.toFixed(2)} (goal <= 0.5)`);

  if (flags["cpu-profile"]) {
    // A project of its own with the inspector, so that the measured rounds above ran without one.
    const name = /** @type {(typeof names)[number]} */ (names.find((n) => n === flags["profile-target"]) ?? "project");
    const running = await startWorker({
      name,
      config: CONFIGS[name],
      entry: /** @type {string} */ (entries[names.indexOf(name)]),
      vars: vars[name],
      inspectorPort: await freePort(),
    });
    cleanups.push(() => running.dispose());
    const project = { ...running, jwksLabel: name === "passthrough" ? null : name, project: name === "project" };
    const warmed = Math.min(3_000, count * 2 + 500);
    await warm(project.url, tokens, warmed);
    const base = await project.mf.getInspectorURL();
    const kick = () =>
      fetch(new URL("/", project.url), { signal: AbortSignal.timeout(5_000) }).then((r) => r.arrayBuffer());
    const session = await inspectorSession(`ws://127.0.0.1:${base.port}/core:user:${name}`, kick);
    try {
      await session.send("Profiler.enable");
      await session.send("Profiler.setSamplingInterval", { interval: 50 });
      await session.send("Profiler.start");
      // Past the warm-up's tokens, so that a distinct workload verifies every one.
      const profiled = await runRound({
        target: project,
        workload,
        round: -1,
        cursor: { next: warmed },
        connections,
        durationS: Math.max(durationS, 3),
        issuer,
        origin,
      });
      const { profile } = await session.send("Profiler.stop");
      const dir = join(ROOT, "bench", "results");
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `profile-${new Date().toISOString().replace(/[:.]/g, "-")}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      printTop(profile, file, profiled.requests);
    } finally {
      session.close();
    }
  }
}

/** Self time per function (name, file, line), the top 30, and the share that is idle/GC/program. */
function printTop(/** @type {any} */ profile, /** @type {string} */ file, /** @type {number} */ requests) {
  /** @type {Map<number, any>} */
  const nodes = new Map(profile.nodes.map((/** @type {any} */ n) => [n.id, n]));
  /** @type {Map<string, number>} */
  const self = new Map();
  const samples = /** @type {number[]} */ (profile.samples);
  const deltas = /** @type {number[]} */ (profile.timeDeltas);
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const n = nodes.get(/** @type {number} */ (samples[i]));
    const f = n.callFrame;
    const key = `${f.functionName || "(anonymous)"}  ${f.url.split("/").pop() || ""}:${f.lineNumber + 1}`;
    const dt = deltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  const idle = self.get("(idle)  :0") ?? 0;
  console.log(
    `\nCPU profile of one round (${(total / 1000).toFixed(0)} ms sampled, ${((idle / total) * 100).toFixed(0)} % idle), top self time excluding idle:`,
  );
  const busy = total - idle;
  console.log(
    `${requests} requests: ${(busy / requests).toFixed(0)} µs of the isolate's thread busy per request (the profiler's own cost included)`,
  );
  for (const [k, v] of [...self]
    .filter(([k]) => k !== "(idle)  :0")
    .sort((a, b) => b[1] - a[1])
    .slice(0, 30)) {
    console.log(`${((v / busy) * 100).toFixed(1).padStart(5)} %  ${k}`);
  }
  console.log(`profile: ${file.slice(ROOT.length)}`);
}

try {
  await main();
} finally {
  while (cleanups.length) await Promise.resolve(/** @type {() => unknown} */ (cleanups.pop())()).catch(() => {});
}

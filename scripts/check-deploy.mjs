// Proves that every environment of wrangler.toml (the top level and each [env.*]) would deploy and
// would serve requests, without an account or network:
//   1. the environment's resolved config has the bindings the Worker needs (wrangler deploys an
//      environment that lacks them, since they are not inherited; its requests would then fail),
//   2. its vars pass the Worker's own parseConfig (otherwise every request would get a 500),
//   3. `wrangler deploy --dry-run` bundles it and validates the config as a real deploy does.
// This runs in Node, not in the workerd tests: those see only the top-level config, have no
// filesystem to read wrangler.toml from, and wrangler itself is the authority on how an
// environment resolves (inheritance, TOML to JSON vars).
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// Both readConfig and the wrangler CLI fall back to CLOUDFLARE_ENV, which would silently check
// one environment in place of the top level.
delete process.env.CLOUDFLARE_ENV;

const { experimental_readRawConfig, unstable_readConfig } = await import("wrangler");
const { createViteServer } = await import("vitest/node");

const DRY_RUN_TIMEOUT_MS = 120_000;
let interrupted = false;
const root = fileURLToPath(new URL("..", import.meta.url));
// Another file may be named for trying the check itself on a broken config.
const configPath = resolve(root, process.argv[2] ?? "wrangler.toml");
const require = createRequire(import.meta.url);
const wranglerBin = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");

/** @param {string | undefined} env */
const label = (env) => env ?? "default";

/**
 * What the Worker needs from an environment besides its vars (contract "Shape").
 * @param {any} config the environment as wrangler resolved it
 * @returns {string[]}
 */
function missingShape(config) {
  const problems = [];
  if (!config.kv_namespaces?.some((/** @type {any} */ kv) => kv.binding === "REVOCATIONS" && kv.id)) {
    problems.push('no kv_namespaces entry with binding "REVOCATIONS" and an id');
  }
  const ledger = config.durable_objects?.bindings?.find((/** @type {any} */ b) => b.name === "REVOCATION_LEDGER");
  if (ledger?.class_name !== "RevocationLedger") {
    problems.push('no durable_objects binding "REVOCATION_LEDGER" of class "RevocationLedger"');
  } else if (ledger.script_name && ledger.script_name !== config.name) {
    problems.push(`REVOCATION_LEDGER points at another Worker ("${ledger.script_name}"): its ledger would be shared`);
  }
  for (const cls of ["RevocationLedger", "DpopReplay", "SignalReceiver"]) {
    if (!config.migrations?.some((/** @type {any} */ m) => m.new_sqlite_classes?.includes(cls))) {
      problems.push(`no [[migrations]] entry with new_sqlite_classes = ["${cls}"]`);
    }
  }
  const replay = config.durable_objects?.bindings?.find((/** @type {any} */ b) => b.name === "DPOP_REPLAY");
  if (replay?.class_name !== "DpopReplay")
    problems.push('no durable_objects binding "DPOP_REPLAY" of class "DpopReplay"');
  return problems;
}

/**
 * @param {string | undefined} env
 * @param {string} outdir
 * @returns {Promise<{ ok: boolean, output: string }>}
 */
function dryRun(env, outdir) {
  // `--env=` names the top level, which wrangler otherwise warns is ambiguous.
  const args = [wranglerBin, "deploy", "--config", configPath, "--dry-run", "--outdir", outdir, `--env=${env ?? ""}`];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      // bin/wrangler.js runs the CLI in a child process of its own: only killing the whole group
      // bounds the run.
      detached: true,
      // The banner is also wrangler's update check, a network call.
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: "false",
        WRANGLER_HIDE_BANNER: "true",
        NO_COLOR: "1",
        FORCE_COLOR: "0",
      },
    });
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    // A detached group does not get the terminal's Ctrl-C; stop it, then clean up and exit.
    const onSignal = () => {
      interrupted = true;
      killGroup();
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    let output = "";
    let timedOut = false;
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, DRY_RUN_TIMEOUT_MS);
    const done = (/** @type {boolean} */ ok, /** @type {string} */ extra) => {
      clearTimeout(timer);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      if (timedOut) extra += `\n(killed after ${DRY_RUN_TIMEOUT_MS / 1000} s)`;
      // Wrangler colours its warnings whatever NO_COLOR says.
      resolve({ ok: ok && !timedOut, output: (output + extra).replace(/\x1b\[[0-9;]*m/g, "") });
    };
    child.on("error", (error) => done(false, `\n${error.message}`));
    child.on("close", (code) => done(code === 0, ""));
  });
}

const { rawConfig } = experimental_readRawConfig({ config: configPath });
const envs = [undefined, ...Object.keys(rawConfig.env ?? {})];
const failures = [];

// Vite loads src/config.ts exactly as the tests do (TypeScript, extensionless imports).
const vite = await createViteServer({
  root,
  configFile: false,
  logLevel: "error",
  appType: "custom",
  server: { middlewareMode: true, hmr: false, watch: null },
  optimizeDeps: { noDiscovery: true, include: [] },
});
try {
  const { parseConfig } = await vite.ssrLoadModule("/src/config.ts");
  for (const env of envs) {
    let config;
    try {
      config = unstable_readConfig({ config: configPath, env }, { hideWarnings: true });
    } catch (error) {
      failures.push(`${label(env)}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    const problems = missingShape(config);
    // The vars as the Worker receives them: JSON values already parsed; ADMIN_TOKENS is a secret
    // that is not in the file.
    // Bindings by name only: parseConfig checks that a route's proofReplay "network" has DPOP_REPLAY.
    const bindings = Object.fromEntries(
      (config.durable_objects?.bindings ?? []).map((/** @type {any} */ b) => [b.name, { binding: b.class_name }]),
    );
    const parsed = parseConfig({ ...bindings, ...config.vars });
    if ("issues" in parsed) {
      for (const issue of parsed.issues) problems.push(`vars: ${issue.var}: ${issue.message}`);
    }
    if (problems.length > 0) failures.push(`${label(env)} (${config.name}):\n  ${problems.join("\n  ")}`);
  }
} finally {
  await vite.close();
}

const tmp = await mkdtemp(join(tmpdir(), "check-deploy-"));
try {
  for (const env of envs) {
    const started = Date.now();
    const { ok, output } = await dryRun(env, join(tmp, label(env)));
    if (interrupted) break;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (!ok) {
      failures.push(`${label(env)}: wrangler deploy --dry-run failed:\n${output}`);
      continue;
    }
    console.log(`check:deploy: ${label(env)}: dry run ok (${seconds} s)`);
    if (/WARNING/.test(output)) console.log(output.trim());
  }
} finally {
  await rm(tmp, { recursive: true, force: true });
}
if (interrupted) process.exit(130);

if (failures.length > 0) {
  console.error(`check:deploy failed:\n\n${failures.join("\n\n")}`);
  process.exit(1);
}
console.log(`check:deploy: ${envs.map(label).join(", ")}: bindings, vars and dry run ok`);

// The targets: each Worker bundled by `wrangler deploy --dry-run --outdir` (the bundle a deploy
// would upload) and run by Miniflare's programmatic API, with the bindings read from the Worker's
// own wrangler config (`unstable_getMiniflareWorkerOptions`) and a direct socket straight to the
// Worker (`unsafeDirectSockets`): no proxy Worker, no request log, no tracing tail in front of it,
// unlike `wrangler dev`. One Miniflare (one workerd process) per target, so that the CPU time of a
// target is the CPU time of its own process.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, rmdirSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { workerdDescendants } from "./proc.mjs";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const require = createRequire(import.meta.url);
const WRANGLER = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
const BUNDLE_TIMEOUT_MS = 180_000;

/** The wrangler config of each Worker the bench runs. */
export const CONFIGS = {
  passthrough: join(ROOT, "bench/workers/passthrough/wrangler.toml"),
  jose: join(ROOT, "bench/workers/jose/wrangler.toml"),
  "hono-jwk": join(ROOT, "bench/workers/hono-jwk/wrangler.toml"),
  project: join(ROOT, "wrangler.toml"),
};

/** Our environment for wrangler, without CLOUDFLARE_ENV (it would pick an environment of the config). */
function childEnv() {
  /** @type {NodeJS.ProcessEnv} */
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" };
  delete env.CLOUDFLARE_ENV;
  return env;
}

/**
 * `wrangler deploy --dry-run --outdir <outdir> -c <config>` (top-level environment), bounded in time;
 * the child and its own children are one process group, killed together on timeout.
 * @param {string} config
 * @param {string} outdir
 * @param {string} [cwd] where wrangler runs: the repository root unless another tree's Worker is
 *   bundled (bench:revocations bundles the project as of an older commit, from a tree of its own)
 * @returns {Promise<string>} the bundle's entry module
 */
export function bundle(config, outdir, cwd = ROOT) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      [WRANGLER, "deploy", "--dry-run", "--outdir", outdir, "-c", config, "--env="],
      {
        cwd,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: childEnv(),
      },
    );
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // gone
      }
    }, BUNDLE_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      removeEmptyWranglerDir(dirname(config));
      if (code === 0) resolvePromise(join(outdir, "index.js"));
      else
        reject(
          new Error(
            `wrangler deploy --dry-run -c ${config} failed (${code}):\n${output.replace(/\x1b\[[0-9;]*m/g, "")}`,
          ),
        );
    });
  });
}

/**
 * wrangler leaves an empty .wrangler/tmp beside a config it bundles; remove it for the bench's own
 * Workers (only if empty: rmdir fails otherwise). The root's .wrangler is the developer's.
 * @param {string} dir
 */
function removeEmptyWranglerDir(dir) {
  if (resolve(dir) === resolve(ROOT)) return;
  for (const d of [join(dir, ".wrangler", "tmp"), join(dir, ".wrangler")]) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
  }
}

/**
 * @typedef {{
 *   name: string,
 *   mf: Miniflare,
 *   url: URL,
 *   pids: number[],
 *   dispose: () => Promise<void>,
 * }} Running
 */

/**
 * Starts one Worker in its own Miniflare: the bindings of `config` (vars, KV, Durable Objects and
 * their classes), vars overridden by `vars`, the code from the dry-run bundle `entry`.
 *
 * Miniflare sends every outbound fetch of the Worker through an interceptor Worker of its own (in
 * the same workerd) which, by default, copies the request's headers to drop CF-Connecting-IP and
 * add CF-Worker, as Cloudflare's edge does natively. That copy is dev tooling whose cost grows with
 * the number of headers the Worker sends, so the bench turns it off (`stripCfConnectingIp: false`:
 * the interceptor then passes the request on as it is) unless `devOutbound` is set.
 * @param {{ name: string, config: string, entry: string, vars: Record<string, unknown>, inspectorPort?: number, devOutbound?: boolean }} options
 * @returns {Promise<Running>}
 */
export async function startWorker({ name, config, entry, vars, inspectorPort, devOutbound = false }) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
  // The bundle is one ES module, listed below; Miniflare 5's v4 adapter refuses module rules.
  const { modulesRules: _rules, ...options } = /** @type {Record<string, any>} */ (workerOptions);
  const before = new Set(workerdDescendants(process.pid));
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      cf: false, // no fetch of cf.json from the network
      logRequests: false,
      // The Worker's console lines (the decision log) still cost workerd what they cost; they are
      // just not printed among the tables.
      handleStructuredLogs: () => {},
      ...(inspectorPort === undefined ? {} : { inspectorPort, inspectorHost: "127.0.0.1" }),
      workers: [
        {
          ...options,
          name,
          modules: [{ type: "ESModule", path: entry }],
          modulesRoot: dirname(entry),
          bindings: { ...options.bindings, ...vars },
          unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
          stripCfConnectingIp: devOutbound,
        },
      ],
    }),
  );
  let url;
  try {
    await mf.ready;
    url = await mf.unsafeGetDirectURL(name);
  } catch (e) {
    await mf.dispose().catch(() => {});
    throw e;
  }
  const pids = workerdDescendants(process.pid).filter((p) => !before.has(p));
  return { name, mf, url, pids, dispose: () => mf.dispose() };
}

/**
 * The tree as of `rev`, in `dir`: `git archive` (nothing in this repository's .git is touched), with
 * node_modules a link to this tree's, so that wrangler's esbuild resolves the packages from it.
 * @param {string} rev
 * @param {string} dir
 */
export function extractTree(rev, dir) {
  mkdirSync(dir, { recursive: true });
  const tar = execFileSync("git", ["archive", "--format=tar", rev], {
    cwd: ROOT,
    maxBuffer: 512 * 2 ** 20,
    timeout: 60_000,
  });
  execFileSync("tar", ["-x", "-C", dir], { input: tar, timeout: 60_000 });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
}

/** @param {string} p a path relative to the repository root */
export const fromRoot = (p) => resolve(ROOT, p);

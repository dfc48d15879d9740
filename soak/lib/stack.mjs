// What the soak runs against: the bench's issuer and origin (each a Node process of its own, with
// counters), and the authorizer under `wrangler dev` on free 127.0.0.1 ports, with its state in a
// temporary directory.
//
// wrangler dev watches the sources and reloads the Worker when one changes, which would end the
// soak's isolate mid-run (and its heap figures with it) whenever someone edits src/. So the Worker
// is first bundled once with `wrangler deploy --dry-run` (bench/lib/workers.mjs, the code a deploy
// uploads), and wrangler dev runs that bundle with --no-bundle, against a copy of wrangler.toml in
// the temporary directory: the soak measures the code as it was when it started. A reload is still
// watched for (wrangler's output) and reported.
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { freePort, startNode, stopGroup, waitForHttp } from "../../bench/lib/proc.mjs";
import { startOriginAndIssuer } from "../../bench/lib/servers.mjs";
import { bundle, CONFIGS, ROOT } from "../../bench/lib/workers.mjs";

const require = createRequire(import.meta.url);
const WRANGLER = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
const READY_TIMEOUT_MS = 120_000;
const RELOAD = /Reloading local server|Local server updated/;
/** wrangler's line per request ("[wrangler:info] GET /x 200 OK (3ms)") and the Worker's decision log. */
const ROUTINE = /^(\x1b\[[0-9;]*m)*\[wrangler:info\] [A-Z]+ \S+ (200|401) |^\{"event":"decision"/;
const MAX_NOTABLE = 500;

/**
 * @param {{ dir: string, jwks: { keys: unknown[] }, vars: (servers: { iss: string, jwksUri: string, origin: string }) => Record<string, unknown>, cleanups: { push: (step: () => Promise<unknown> | unknown) => void }, log: (l: string) => void }} o
 */
export async function startStack({ dir, jwks, vars, cleanups, log }) {
  const { origin, issuer } = await startOriginAndIssuer(jwks, cleanups);

  log("bundling the Worker (wrangler deploy --dry-run) as it is now");
  const entry = await bundle(CONFIGS.project, join(dir, "bundle"));
  const configDir = join(dir, "config");
  mkdirSync(configDir, { recursive: true });
  const config = join(configDir, "wrangler.toml");
  copyFileSync(CONFIGS.project, config);

  const [port, inspectorPort] = [await freePort(), await freePort()];
  const allVars = vars({ iss: issuer.url, jwksUri: issuer.jwksUri("soak"), origin: origin.url });
  const varArgs = Object.entries(allVars).flatMap(([k, v]) => [
    "--var",
    `${k}:${typeof v === "string" ? v : JSON.stringify(v)}`,
  ]);
  const proc = startNode(
    [
      WRANGLER,
      "dev",
      entry,
      "--no-bundle",
      "-c",
      config,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspectorPort),
      "--persist-to",
      join(dir, "state"),
      "--show-interactive-dev-session=false",
      ...varArgs,
    ],
    {},
    ROOT,
  );
  cleanups.push(() => stopGroup(proc));
  const gateway = `http://127.0.0.1:${port}`;
  await waitForHttp(`${gateway}/.auth/health`, proc, READY_TIMEOUT_MS);

  // From here on any reload is a finding: the isolate the soak measures would be gone. And every
  // line of wrangler's output that is not the routine per-request log is kept (bounded), so that an
  // error the tooling or workerd printed is in the results next to the answers it explains (the
  // time is this process's performance.now(), the clock of the examples' sentAtS).
  let reloads = 0;
  /** @type {string[]} */
  const notable = [];
  let partial = "";
  const onData = (/** @type {Buffer} */ d) => {
    const text = partial + String(d);
    const lines = text.split("\n");
    partial = (lines.pop() ?? "").slice(-4096);
    for (const line of lines) {
      if (RELOAD.test(line)) reloads++;
      if (!ROUTINE.test(line) && line.trim() !== "" && notable.length < MAX_NOTABLE)
        notable.push(`[${(performance.now() / 1000).toFixed(3)} s] ${line.slice(0, 500)}`);
    }
  };
  proc.child.stdout?.on("data", onData);
  proc.child.stderr?.on("data", onData);

  return {
    gateway,
    inspectorPort,
    issuer,
    origin,
    /** The wrangler dev process (its process group holds workerd). */
    pid: /** @type {number} */ (proc.child.pid),
    reloads: () => reloads,
    /** wrangler's output since start-up, without the routine per-request lines. */
    notable: () => [...notable],
  };
}

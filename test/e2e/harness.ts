// Starts real processes for an end-to-end test, each on a free 127.0.0.1 port, waits for them with
// a bounded timeout, and stops them by pid (their own process group only).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Proc {
  child: ChildProcess;
  output: () => string;
}

export function start(args: string[], env: Record<string, string> = {}): Proc {
  let output = "";
  const child = spawn(process.execPath, args, {
    detached: true, // its own process group, so stop() reaches its children (workerd) and nothing else
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return { child, output: () => output };
}

export async function stop(proc: Proc | undefined): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.pid === undefined) return;
  const exited = new Promise((resolve) => proc.child.once("exit", resolve));
  try {
    process.kill(-proc.child.pid, "SIGTERM");
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-proc.child.pid!, "SIGKILL");
    } catch {}
  }, 5_000);
  await exited;
  clearTimeout(timer);
}

/** Polls `url` until it answers (any status) or `timeoutMs` passes. */
export async function waitFor(url: string, proc: Proc, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`process exited early:\n${proc.output()}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(2_000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${proc.output()}`);
}

/** Polls `done` every 50 ms for at most `maxMs`; true once it holds. */
export async function eventually(done: () => boolean | Promise<boolean>, maxMs: number): Promise<boolean> {
  const started = Date.now();
  for (let i = 0; Date.now() - started < maxMs && i < 2000; i++) {
    if (await done()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * test/e2e/oidc-provider.mjs on 127.0.0.1:`port`, its client's back-channel logout URI on the
 * authorizer's `authorizerPort`, with `args` (its other flags); resolves once its discovery answers.
 */
export async function startOidcProvider(port: number, authorizerPort: number, args: string[]): Promise<Proc> {
  const proc = start([
    "test/e2e/oidc-provider.mjs",
    "--port",
    String(port),
    "--authorizer-port",
    String(authorizerPort),
    ...args,
  ]);
  try {
    await waitFor(`http://127.0.0.1:${port}/.well-known/openid-configuration`, proc, 20_000);
  } catch (e) {
    await stop(proc);
    throw e;
  }
  return proc;
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface Stack {
  gateway: string;
  issuer: string;
  keyFile: string;
  adminToken: string;
  stop: () => Promise<void>;
  /** Stops `wrangler dev` and starts it again on the same port and the same --persist-to. */
  restartGateway: () => Promise<void>;
  /** What `wrangler dev` (and so the Worker's console) printed so far. */
  gatewayOutput: () => string;
}

export interface StackOptions {
  /** The port for `wrangler dev`, when another process must know it before the stack starts
   * (e.g. an OpenID Provider whose back-channel logout URI points at the authorizer). */
  gatewayPort?: number;
  /**
   * Runs the demo origin Worker (examples/origin-worker) beside the authorizer in the same `wrangler
   * dev`, bound as ORIGIN: approved requests go to it through the service binding.
   */
  originWorker?: boolean;
}

/** wrangler.toml with the ORIGIN service binding added, written beside the other temporary files. */
function configWithOriginWorker(dir: string): string {
  const root = process.cwd();
  const toml = readFileSync(join(root, "wrangler.toml"), "utf8").replace(
    /^main = "src\/index.ts"$/m,
    `main = ${JSON.stringify(join(root, "src/index.ts"))}`,
  );
  const path = join(dir, "wrangler.origin-worker.toml");
  // An array-of-tables header is absolute: appended at the end, it is the top level's `services`.
  writeFileSync(path, `${toml}\n[[services]]\nbinding = "ORIGIN"\nservice = "demo-origin-worker"\n`);
  return path;
}

/** The demo issuer, the echoing demo origin and `wrangler dev` in front of them. */
export async function startStack(vars: Record<string, string> = {}, options: StackOptions = {}): Promise<Stack> {
  const dir = tempDir("edge-authz-e2e-");
  const keyFile = join(dir.path, "issuer-key.json");
  const [issuerPort, originPort, gatewayPort, inspectorPort] = [
    await freePort(),
    await freePort(),
    options.gatewayPort ?? (await freePort()),
    await freePort(),
  ];
  const issuer = `http://127.0.0.1:${issuerPort}`;
  const procs: Proc[] = [];
  const stopAll = async () => {
    await Promise.all(procs.map(stop));
    dir.remove();
  };
  try {
    procs.push(start(["scripts/demo-issuer.mjs", "--port", String(issuerPort), "--key-file", keyFile]));
    procs.push(start(["scripts/demo-origin.mjs", "--port", String(originPort)]));
    await waitFor(`${issuer}/jwks.json`, procs[0]!, 20_000);
    await waitFor(`http://127.0.0.1:${originPort}/`, procs[1]!, 20_000);
    const adminToken = "e2e-admin-token-0000000001";
    const allVars: Record<string, string> = {
      ISSUERS: JSON.stringify([{ issuer, audiences: ["demo-api"] }]),
      ORIGIN_URL: `http://127.0.0.1:${originPort}`,
      ADMIN_TOKENS: adminToken,
      ...vars,
    };
    const varArgs = Object.entries(allVars).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
    const wranglerArgs = [
      "node_modules/wrangler/bin/wrangler.js",
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(gatewayPort),
      "--inspector-port",
      String(inspectorPort),
      "--persist-to",
      join(dir.path, "state"),
      "--show-interactive-dev-session=false",
      ...(options.originWorker
        ? ["-c", configWithOriginWorker(dir.path), "-c", "examples/origin-worker/wrangler.toml"]
        : []),
      ...varArgs,
    ];
    const gateway = `http://127.0.0.1:${gatewayPort}`;
    procs.push(start(wranglerArgs));
    await waitFor(`${gateway}/.auth/health`, procs[2]!);
    const restartGateway = async () => {
      await stop(procs[2]);
      procs[2] = start(wranglerArgs);
      await waitFor(`${gateway}/.auth/health`, procs[2]!);
    };
    return {
      gateway,
      issuer,
      keyFile,
      adminToken,
      stop: stopAll,
      restartGateway,
      gatewayOutput: () => procs[2]!.output(),
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

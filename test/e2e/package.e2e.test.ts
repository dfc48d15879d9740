// The package as a user gets it: `npm pack` (its prepack builds dist), installed from the tarball into
// a scratch project of its own in a temp dir, then used there as a user would: the tarball's file
// list (what ships and what must not), `edge-jwt-authorizer/client` imported and constructed in
// Node, both subpaths type-checked by tsc (moduleResolution bundler, with the Worker types of
// `wrangler types`, and nodenext), a user's Worker importing `edge-jwt-authorizer/hono` bundled by
// `wrangler deploy --dry-run`, and the installed bin's --help. Every command runs in its own process
// group, killed when it outlasts its bound; the temp dirs are removed after.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
const WRANGLER = join(ROOT, "node_modules/wrangler/bin/wrangler.js");

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, or kills its process group after `timeoutMs` (code null). */
function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<Ran> {
  // Without the npm_* variables of an `npm test` around this run, which describe the repo's package
  // (npm_config_local_prefix, npm_package_*): each npm below is about its own cwd.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      detached: true, // its own process group: the timeout reaches its children (npm's scripts, workerd)
      env: { ...env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function expectOk(ran: Ran, what: string): void {
  expect(ran.code, `${what} (null: killed at its time bound)\n${ran.stdout}\n${ran.stderr}`).toBe(0);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split("\\").join("/"));
}

let packDir: string;
let scratch: string;
let files: string[];
/** Which install worked: "--offline" (every packument cached) or "--prefer-offline". */
let installedWith: string;

const USER_WORKER = `import { Hono } from "hono";
import { authorizer, type AuthEnv } from "edge-jwt-authorizer/hono";
export { RevocationHead } from "edge-jwt-authorizer/hono";

const app = new Hono<AuthEnv>();
app.get("/health", (c) => c.text("ok"));
app.use("/api/*", authorizer());
app.get("/api/me", (c) => {
  const auth = c.get("auth");
  return c.json({ sub: auth.claims?.sub ?? null, issuer: auth.issuer, kind: auth.binding?.kind ?? null });
});
export default app;
`;

// Beside the Worker (whose exports worker-configuration.d.ts holds to be handlers): each marked line
// is an error only while the package's types resolve; were a subpath or one of its declaration files
// not found (an "any", which skipLibCheck would not report), tsc fails on the unused directive.
const TYPES_CHECK = `import type { Auth, RevocationHead } from "edge-jwt-authorizer/hono";
import { RevocationClient, RevocationClientError } from "edge-jwt-authorizer/client";

declare const auth: Auth;
// @ts-expect-error a string | null
export const issuer: number = auth.issuer;
// @ts-expect-error "dpop" | "mtls", declared in sender/binding.d.ts
export const kind: number = auth.binding!.kind;
// @ts-expect-error RevocationHead's fetch takes no argument (revocation/fresh-head.d.ts)
export const head = (h: RevocationHead) => h.fetch(1);
const client = new RevocationClient({ baseUrl: "https://api.example.com", adminToken: "t" });
// @ts-expect-error revokeSubject takes { sub, iss? }
export const revoked = () => client.revokeSubject({ user: "alice" });
export const refused = (e: unknown) => e instanceof RevocationClientError && e.status === 401;
`;

const WRANGLER_TOML = `name = "my-api"
main = "src/index.ts"
compatibility_date = "2026-11-01"

[vars]
ISSUERS = [{ issuer = "https://auth.example.com", audiences = ["https://api.example.com"] }]

[[kv_namespaces]]
binding = "REVOCATIONS"
id = "00000000000000000000000000000000"

[[durable_objects.bindings]]
name = "REVOCATION_LEDGER"
class_name = "RevocationLedger"
script_name = "edge-jwt-authorizer-production"
`;

const CLIENT_SCRIPT = `import { RevocationClient, RevocationClientError } from "edge-jwt-authorizer/client";
const client = new RevocationClient({ baseUrl: "https://api.example.com", adminToken: "t", retries: 0 });
console.log(JSON.stringify({ client: client instanceof RevocationClient, error: new RevocationClientError({ status: 401, code: "admin_unauthorized", detail: "d", attempts: 1 }) instanceof Error }));
`;

function tsconfig(moduleResolution: "bundler" | "nodenext", skipLibCheck: boolean): string {
  return JSON.stringify({
    compilerOptions: {
      target: "es2022",
      lib: ["es2023"],
      module: moduleResolution === "bundler" ? "preserve" : "nodenext",
      moduleResolution,
      types: ["./worker-configuration.d.ts"],
      strict: true,
      skipLibCheck,
      noEmit: true,
    },
    include: ["src"],
  });
}

beforeAll(async () => {
  packDir = mkdtempSync(join(tmpdir(), "eja-pack-"));
  scratch = mkdtempSync(join(tmpdir(), "eja-user-"));

  const packed = await run("npm", ["pack", "--pack-destination", packDir], ROOT, 90_000);
  expectOk(packed, "npm pack");
  const tarballs = readdirSync(packDir).filter((f) => f.endsWith(".tgz"));
  expect(tarballs).toHaveLength(1);
  const tarball = join(packDir, tarballs[0]!);

  const listed = await run("tar", ["-tzf", tarball], packDir, 15_000);
  expectOk(listed, "tar -tzf");
  files = listed.stdout
    .split("\n")
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ""))
    .sort();

  writeFileSync(join(scratch, "package.json"), JSON.stringify({ name: "my-api", private: true, type: "module" }));
  writeFileSync(join(scratch, "wrangler.toml"), WRANGLER_TOML);
  mkdirSync(join(scratch, "src"));
  writeFileSync(join(scratch, "src/index.ts"), USER_WORKER);
  writeFileSync(join(scratch, "src/types-check.ts"), TYPES_CHECK);
  writeFileSync(join(scratch, "client.mjs"), CLIENT_SCRIPT);
  writeFileSync(join(scratch, "tsconfig.json"), tsconfig("bundler", false));
  writeFileSync(join(scratch, "tsconfig.nodenext.json"), tsconfig("nodenext", true));

  // --offline needs every dependency's packument in npm's cache, which an `npm install` from the
  // lockfile does not leave there (ENOTCACHED): then --prefer-offline, which asks the registry for
  // the packuments and takes the tarballs from the cache.
  for (const mode of ["--offline", "--prefer-offline"]) {
    const installed = await run("npm", ["install", mode, "--no-audit", "--no-fund", tarball], scratch, 90_000);
    if (installed.code === 0) {
      installedWith = mode;
      break;
    }
    if (mode === "--prefer-offline") expectOk(installed, "npm install --prefer-offline");
  }
  console.info(`package.e2e: ${files.length} files packed; the tarball installed with npm install ${installedWith}`);
}, 240_000);

afterAll(() => {
  for (const dir of [packDir, scratch]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the npm package, installed from its tarball", () => {
  it("holds the Worker's source, the client, the middleware, the CLI and their types, and nothing else", () => {
    for (const expected of [
      "package.json",
      "README.md",
      "wrangler.toml",
      "docs/client.md",
      "docs/deploy.md",
      "src/index.ts",
      "src/hono.ts",
      "src/client/index.ts",
      "src/cli/main.ts",
      "dist/client/index.js",
      "dist/client/index.d.ts",
      "dist/cli/main.js",
      "dist/hono/hono.js",
      "dist/hono/hono.js.map",
      "dist/hono/hono.d.ts",
    ]) {
      expect(files).toContain(expected);
    }
    // All of the Worker's source, as it is in the checkout.
    for (const file of filesUnder(join(ROOT, "src"))) expect(files).toContain(file);
    // Only these places; nothing from tests, benches, the demo, local secrets or tooling.
    const allowed =
      /^(package\.json|README\.md|LICENSE[^/]*|wrangler\.toml|docs\/[^/]+\.md|src\/.+|dist\/(client|cli|hono)\/.+)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    const unwanted =
      /(^|\/)(test|bench|soak|sim|scripts|examples|node_modules|\.wrangler|\.demo|\.ci|\.git)\/|\.dev\.vars|\.(test|e2e\.test)\.ts$|\.(png|jpe?g|gif|webp)$|\.tsbuildinfo$|^worker-configuration\.d\.ts$|^package-lock\.json$/;
    expect(files.filter((f) => unwanted.test(f))).toEqual([]);
  });

  it("ships the middleware as one module that imports only its dependencies and the Workers runtime", () => {
    const pkg = join(scratch, "node_modules/edge-jwt-authorizer");
    const js = readFileSync(join(pkg, "dist/hono/hono.js"), "utf8");
    const imported = [...js.matchAll(/^import\s[^;]*?\sfrom\s*"([^"]+)"/gm)].map((m) => m[1]);
    expect(imported.length).toBeGreaterThan(0);
    expect(new Set(imported)).toEqual(new Set(["jose", "zod", "cloudflare:workers"]));
    expect(js).toMatch(/export\s*\{[^}]*\bauthorizer\b[^}]*\}/);
    // Its source map points into the package's own src/.
    const map = JSON.parse(readFileSync(join(pkg, "dist/hono/hono.js.map"), "utf8")) as { sources: string[] };
    for (const source of map.sources) expect(existsSync(resolve(pkg, "dist/hono", source)), source).toBe(true);
    // Every declaration file hono.d.ts reaches came along.
    for (const file of files.filter((f) => f.startsWith("dist/hono/") && f.endsWith(".d.ts"))) {
      for (const m of readFileSync(join(pkg, file), "utf8").matchAll(/from\s*"(\.{1,2}\/[^"]+)\.js"/g)) {
        expect(existsSync(resolve(pkg, dirname(file), `${m[1]}.d.ts`)), `${file}: ${m[1]}`).toBe(true);
      }
    }
  });

  it("imports edge-jwt-authorizer/client in Node and constructs the client", async () => {
    const ran = await run(process.execPath, ["client.mjs"], scratch, 15_000);
    expectOk(ran, "node client.mjs");
    expect(JSON.parse(ran.stdout)).toEqual({ client: true, error: true });
  });

  it("runs the installed bin: edge-jwt-authorizer --help", async () => {
    const ran = await run(join(scratch, "node_modules/.bin/edge-jwt-authorizer"), ["--help"], scratch, 15_000);
    expectOk(ran, "edge-jwt-authorizer --help");
    expect(ran.stdout).toContain("Usage: edge-jwt-authorizer <command>");
    expect(ran.stdout).toContain("revoke");
  });

  it("type-checks a user's Worker importing both subpaths, with the types of `wrangler types`", async () => {
    const types = await run(process.execPath, [WRANGLER, "types"], scratch, 60_000);
    expectOk(types, "wrangler types");
    expect(existsSync(join(scratch, "worker-configuration.d.ts"))).toBe(true);
    // bundler: every declaration checked (skipLibCheck off); nodenext: the package's relative
    // imports resolve there too (skipLibCheck on: wrangler's own worker-configuration.d.ts is
    // not nodenext-clean; the @ts-expect-error lines still fail on an unresolved type).
    const [bundler, nodenext] = await Promise.all([
      run(process.execPath, [TSC, "-p", "tsconfig.json"], scratch, 60_000),
      run(process.execPath, [TSC, "-p", "tsconfig.nodenext.json"], scratch, 60_000),
    ]);
    expectOk(bundler, "tsc, moduleResolution bundler");
    expectOk(nodenext, "tsc, moduleResolution nodenext");
  });

  it("bundles a user's Worker with the middleware: wrangler deploy --dry-run", async () => {
    const out = join(scratch, "dry-run");
    const ran = await run(process.execPath, [WRANGLER, "deploy", "--dry-run", "--outdir", out], scratch, 60_000);
    expectOk(ran, "wrangler deploy --dry-run");
    const bundled = readFileSync(join(out, "index.js"), "utf8");
    const external = new Set([...bundled.matchAll(/^import\s[^;]*?\sfrom\s*"([^"]+)"/gm)].map((m) => m[1]));
    expect(external).toEqual(new Set(["cloudflare:workers"]));
    expect(bundled).toMatch(/export\s*\{[^}]*\bRevocationHead\b[^}]*\}/);
  });
});

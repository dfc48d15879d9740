// Builds `edge-jwt-authorizer/hono` into dist/hono (npm run build:hono; docs/deploy.md, "The npm
// package"):
//   - hono.js: src/hono.ts and every module it imports bundled by esbuild into one ES module whose
//     only imports are the package's dependencies (jose, zod) and cloudflare:workers, which the
//     Worker runtime provides. It has no relative import left to resolve (tsc's output kept the
//     source's extensionless ones, which Node refuses, and webpack too in a "type": "module"
//     package); wrangler bundles it in test/e2e/package.e2e.test.ts. It runs only in a Worker,
//     where cloudflare:workers exists.
//   - hono.d.ts and the declarations it reaches (tsc's, emitted by tsconfig.hono.json into
//     dist/.hono-types), with their relative imports given the .js extension, so that TypeScript
//     resolves them under "moduleResolution" "bundler" and "nodenext" alike.
// It builds into dist/.hono-build and then replaces dist/hono with it, so no stale file from an
// earlier build is left to ship. It fails when the bundle would import anything else: a package that is not
// a dependency would be missing from a user's install.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist/hono");
// Built beside dist/hono, at its depth, so that the source map's ../../src/ paths hold once moved.
const bundle = join(root, "dist/.hono-build");
const types = join(root, "dist/.hono-types");

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const dependencies = new Set(Object.keys(pkg.dependencies ?? {}));
/** @param {string} path an import's path: a package's (with a subpath or not) or a module's */
const packageOf = (path) => path.split("/", path.startsWith("@") ? 2 : 1).join("/");
/** What the bundle may import: the runtime's own modules, and the package's dependencies. @param {string} path */
const allowed = (path) => path.startsWith("cloudflare:") || dependencies.has(packageOf(path));

for (const dir of [bundle, types]) rmSync(dir, { recursive: true, force: true });

// 1. The JavaScript: one module.
const result = await build({
  absWorkingDir: root,
  entryPoints: ["src/hono.ts"],
  outfile: join(bundle, "hono.js"),
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  packages: "external",
  external: ["cloudflare:workers"],
  sourcemap: true,
  metafile: true,
  logLevel: "warning",
});
const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
const foreign = [...new Set(imports)].filter((path) => !allowed(path));
if (foreign.length > 0) {
  throw new Error(`dist/hono/hono.js would import ${foreign.join(", ")}: not a dependency in package.json`);
}

// 2. The declarations: tsc's, for src/hono.ts and everything it imports.
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const emitted = spawnSync(
  process.execPath,
  [tsc, "-p", "tsconfig.hono.json"], // declarations only, into dist/.hono-types
  { cwd: root, stdio: "inherit" },
);
if (emitted.status !== 0) throw new Error(`tsc -p tsconfig.hono.json failed (${emitted.status ?? emitted.signal})`);

// 3. Of those, the ones hono.d.ts reaches, each relative import spelled as Node resolves it.
const RELATIVE = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"']*)\2/g;
const pending = ["hono.d.ts"];
const copied = new Set();
for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
  if (copied.has(file)) continue;
  copied.add(file);
  const text = readFileSync(join(types, file), "utf8").replace(RELATIVE, (_, lead, quote, specifier) => {
    const target = join(dirname(file), specifier);
    const declaration = [`${target}.d.ts`, join(target, "index.d.ts")].find((f) => existsSync(join(types, f)));
    if (declaration === undefined) throw new Error(`${file}: no declaration for ${specifier}`);
    pending.push(declaration);
    let spelled = relative(dirname(file), declaration).replace(/\.d\.ts$/, ".js");
    if (!spelled.startsWith(".")) spelled = `./${spelled}`;
    return `${lead}${quote}${spelled}${quote}`;
  });
  mkdirSync(dirname(join(bundle, file)), { recursive: true });
  writeFileSync(join(bundle, file), text);
}

rmSync(out, { recursive: true, force: true });
renameSync(bundle, out);
rmSync(types, { recursive: true, force: true });
console.log(`dist/hono: hono.js (importing ${[...new Set(imports)].join(", ")}) and ${copied.size} .d.ts files`);

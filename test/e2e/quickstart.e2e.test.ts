// The README's quickstart, as written: `npm start`'s script, then the curl block of the README run
// by bash (only the ports moved to free ones), showing a 401, a 200 with identity headers and a 403.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort, start, stop, tempDir, waitFor, type Proc } from "./harness";

let demo: Proc | undefined;
const dir = tempDir("edge-authz-quickstart-");
const env: Record<string, string> = {};

beforeAll(async () => {
  const [gateway, issuer, origin, inspector] = [await freePort(), await freePort(), await freePort(), await freePort()];
  Object.assign(env, {
    DEMO_GATEWAY_PORT: String(gateway),
    DEMO_ISSUER_PORT: String(issuer),
    DEMO_ORIGIN_PORT: String(origin),
    DEMO_INSPECTOR_PORT: String(inspector),
    DEMO_PERSIST_TO: join(dir.path, "state"),
    DEMO_KEY_FILE: join(dir.path, "issuer-key.json"),
    DEMO_ISSUER: `http://127.0.0.1:${issuer}`,
  });
  demo = start(["scripts/demo.mjs"], env);
  await waitFor(`http://127.0.0.1:${gateway}/.auth/health`, demo);
});
afterAll(async () => {
  await stop(demo);
  dir.remove();
});

function quickstartCurlBlock(): string {
  const readme = readFileSync("README.md", "utf8");
  const after = readme.slice(readme.indexOf("In another terminal"));
  const block = /```sh\n([\s\S]*?)```/.exec(after);
  if (!block) throw new Error("no curl block after 'In another terminal' in README.md");
  return block[1]!;
}

it("the README's curl lines show a 401, a 200 with identity headers, and a 403", async () => {
  const script = quickstartCurlBlock().replaceAll("127.0.0.1:8787", `127.0.0.1:${env.DEMO_GATEWAY_PORT}`);
  expect(script.match(/^curl /gm)).toHaveLength(3);
  const output = await new Promise<string>((resolve, reject) =>
    execFile(
      "bash",
      ["-euo", "pipefail", "-c", script],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    ),
  );
  const statuses = [...output.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  expect(statuses).toEqual([401, 200, 403]);
  expect(output).toContain('"x-auth-subject": "alice"');
  expect(output).toContain('"x-auth-scopes": "read"');
  expect(output).toContain('error="insufficient_scope"');
});

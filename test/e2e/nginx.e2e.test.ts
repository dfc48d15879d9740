// The README's nginx snippet, as written, run by a real nginx (`auth_request`) in front of the echo
// origin, asking the authorizer's check route under `wrangler dev`. Only the ports are moved.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { mint } from "../../scripts/demo-keys.mjs";
import { freePort, start, startStack, stop, tempDir, waitFor, type Proc, type Stack } from "./harness";

let stack: Stack | undefined;
let origin: Proc | undefined;
let nginx: Proc | undefined;
let proxy = "";
const dir = tempDir("edge-authz-nginx-");

/** Not a skip: without nginx this test would prove nothing while looking green. */
function nginxBinary(): string {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin"];
  const found = dirs.map((d) => join(d, "nginx")).find((p) => p.startsWith("/") && existsSync(p));
  if (!found) throw new Error("nginx is not installed; `.ci/run` installs it (apt-get install nginx)");
  return found;
}

function readmeNginxSnippet(): string {
  const readme = readFileSync("README.md", "utf8");
  const block = /```nginx\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf("**nginx** (`auth_request`)")));
  if (!block) throw new Error("no nginx block after '**nginx** (`auth_request`)' in README.md");
  return block[1]!;
}

function nginxConf(port: number, gateway: string, originUrl: string): string {
  const snippet = readmeNginxSnippet();
  expect(snippet).toContain("http://127.0.0.1:8787/");
  expect(snippet).toContain("http://127.0.0.1:9002;");
  const server = snippet.replaceAll("http://127.0.0.1:8787", gateway).replaceAll("http://127.0.0.1:9002", originUrl);
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${join(dir.path, t)};`);
  return `worker_processes 1;
daemon off;
pid ${join(dir.path, "nginx.pid")};
error_log ${join(dir.path, "error.log")} notice;
events { worker_connections 64; }
http {
  access_log ${join(dir.path, "access.log")};
  ${temp.join("\n  ")}
  server {
    listen 127.0.0.1:${port};
${server}
  }
}
`;
}

beforeAll(async () => {
  const bin = nginxBinary();
  stack = await startStack();
  const [originPort, nginxPort] = [await freePort(), await freePort()];
  origin = start(["scripts/demo-origin.mjs", "--port", String(originPort)]);
  await waitFor(`http://127.0.0.1:${originPort}/`, origin, 20_000);
  // Run as root, nginx's worker drops to an unprivileged user that must still reach its temp paths.
  chmodSync(dir.path, 0o755);
  const conf = join(dir.path, "nginx.conf");
  writeFileSync(conf, nginxConf(nginxPort, stack.gateway, `http://127.0.0.1:${originPort}`));
  let output = "";
  const child = spawn(bin, ["-c", conf, "-p", dir.path, "-e", join(dir.path, "error.log")], {
    detached: true, // its own process group: stop() reaches its worker and nothing else
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const errorLog = () =>
    existsSync(join(dir.path, "error.log")) ? readFileSync(join(dir.path, "error.log"), "utf8") : "";
  nginx = { child, output: () => output + errorLog() };
  proxy = `http://127.0.0.1:${nginxPort}`;
  await waitFor(`${proxy}/health`, nginx, 10_000);
});
afterAll(async () => {
  await stop(nginx);
  await stop(origin);
  await stack?.stop();
  dir.remove();
});

const token = (claims: Record<string, unknown>) =>
  mint(claims, { file: stack!.keyFile, issuer: stack!.issuer }) as Promise<string>;
const echo = async (res: Response) => (await res.json()) as { path: string; headers: Record<string, string> };

it("answers 401 without a token, passing on the authorizer's WWW-Authenticate", async () => {
  const res = await fetch(`${proxy}/orders/1`);
  expect(res.status).toBe(401);
  expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer realm="/);
  expect(res.headers.get("X-Demo-Origin")).toBeNull();
});

it("forwards a valid token to the origin with the identity headers of the check", async () => {
  const t = await token({ sub: "alice", scope: "read", roles: ["buyer"], sid: "s-1" });
  const res = await fetch(`${proxy}/orders/1?x=%2F`, { headers: { Authorization: `Bearer ${t}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get("X-Demo-Origin")).toBe("echo");
  const { path, headers } = await echo(res);
  expect(path).toBe("/orders/1?x=%2F");
  expect(headers["x-auth-subject"]).toBe("alice");
  expect(headers["x-auth-scopes"]).toBe("read");
  expect(headers["x-auth-roles"]).toBe("buyer");
  expect(headers["x-auth-session"]).toBe("s-1");
  expect(headers["x-auth-issuer"]).toBe(stack!.issuer);
  expect(JSON.parse(Buffer.from(headers["x-auth-claims"]!, "base64url").toString())).toMatchObject({ sub: "alice" });
});

it("answers 403 for a token without the route's scope", async () => {
  const res = await fetch(`${proxy}/orders/1`, {
    headers: { Authorization: `Bearer ${await token({ sub: "alice" })}` },
  });
  expect(res.status).toBe(403);
  expect(res.headers.get("X-Demo-Origin")).toBeNull();
});

it("never lets a client-sent X-Auth-* header reach the origin", async () => {
  const spoof = { "X-Auth-Subject": "mallory", "X-Auth-Roles": "admin", "X-Auth-Claims": "e30" };
  const t = await token({ sub: "alice", scope: "read" });
  const withToken = await fetch(`${proxy}/orders/1`, { headers: { ...spoof, Authorization: `Bearer ${t}` } });
  expect(withToken.status).toBe(200);
  const authed = (await echo(withToken)).headers;
  expect(authed["x-auth-subject"]).toBe("alice");
  expect(authed["x-auth-roles"]).toBeUndefined();
  expect(authed["x-auth-claims"]).not.toBe("e30");
  const publicRoute = await fetch(`${proxy}/public/x`, { headers: spoof });
  expect(publicRoute.status).toBe(200);
  const anonymous = (await echo(publicRoute)).headers;
  expect(Object.keys(anonymous).filter((h) => h.startsWith("x-auth-"))).toEqual([]);
});

it("passes on the claims of a large token (nginx's default header buffer would answer 500)", async () => {
  const t = await token({ sub: "alice", scope: "read", padding: "x".repeat(2_850) });
  const res = await fetch(`${proxy}/orders/1`, { headers: { Authorization: `Bearer ${t}` } });
  expect(res.status).toBe(200);
  expect((await echo(res)).headers["x-auth-claims"]).toBe(t.split(".")[1]);
});

// Regression: nginx passes the client's headers on to the check, which preferred X-Forwarded-Uri
// over nginx's X-Original-URI: a client's `X-Forwarded-Uri: /public/x` got /orders/1 through
// without a token. This runs the README's snippet, which now clears that header at nginx; the
// Worker's own refusal of descriptions that disagree is tested in test/check.test.ts.
it("judges the path nginx forwards, never one the client describes", async () => {
  const res = await fetch(`${proxy}/orders/1`, {
    headers: { "X-Forwarded-Uri": "/public/x", "X-Forwarded-Method": "GET" },
  });
  expect(res.status).toBe(401);
  expect(res.headers.get("X-Demo-Origin")).toBeNull();
});

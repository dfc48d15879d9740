// `npm start`: the authorizer under `wrangler dev` on 127.0.0.1:8787 with a demo issuer (9001) and
// an echoing demo origin (9002) beside it. Ctrl-C stops all three. The ports and the key file can
// be moved with DEMO_GATEWAY_PORT, DEMO_ISSUER_PORT, DEMO_ORIGIN_PORT and DEMO_KEY_FILE (the
// end-to-end test runs the README's quickstart that way, on free ports).
import { spawn } from "node:child_process";
import { DEFAULT_KEY_FILE } from "./demo-keys.mjs";

const gatewayPort = process.env.DEMO_GATEWAY_PORT ?? "8787";
const issuerPort = process.env.DEMO_ISSUER_PORT ?? "9001";
const originPort = process.env.DEMO_ORIGIN_PORT ?? "9002";
const issuer = `http://127.0.0.1:${issuerPort}`;

/** @type {import("node:child_process").ChildProcess[]} */
const procs = [];
let stopping = false;
/** @param {string} name @param {string[]} args */
function run(name, args) {
  const child = spawn(process.execPath, args, {
    stdio: "inherit",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  child.on("exit", (code) => {
    if (!stopping) {
      console.error(`${name} exited (${code}); stopping the demo`);
      stop(1);
    }
  });
  procs.push(child);
}

function stop(code = 0) {
  stopping = true;
  for (const p of procs) if (p.exitCode === null) p.kill("SIGTERM");
  setTimeout(() => process.exit(code), 500).unref();
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

run("issuer", ["scripts/demo-issuer.mjs", "--port", issuerPort, "--key-file", DEFAULT_KEY_FILE]);
run("origin", ["scripts/demo-origin.mjs", "--port", originPort]);
const extra = [];
if (process.env.DEMO_INSPECTOR_PORT) extra.push("--inspector-port", process.env.DEMO_INSPECTOR_PORT);
if (process.env.DEMO_PERSIST_TO) extra.push("--persist-to", process.env.DEMO_PERSIST_TO);
run("wrangler", [
  "node_modules/wrangler/bin/wrangler.js",
  "dev",
  "--ip",
  "127.0.0.1",
  "--port",
  gatewayPort,
  "--var",
  `ISSUERS:${JSON.stringify([{ issuer, audiences: ["demo-api"] }])}`,
  "--var",
  `ORIGIN_URL:http://127.0.0.1:${originPort}`,
  "--var",
  "ADMIN_TOKENS:demo-admin-token-change-me",
  "--show-interactive-dev-session=false",
  ...extra,
]);

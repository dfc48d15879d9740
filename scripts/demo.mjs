// `npm start`: the authorizer under `wrangler dev` on 127.0.0.1:8787 with a demo issuer (9001) and
// an echoing demo origin (9002) beside it. Ctrl-C stops all three.
import { spawn } from "node:child_process";

const procs = [];
function run(name, command, args) {
  const child = spawn(command, args, { stdio: "inherit", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  child.on("exit", (code) => {
    if (!stopping) {
      console.error(`${name} exited (${code}); stopping the demo`);
      stop(1);
    }
  });
  procs.push(child);
}

let stopping = false;
function stop(code = 0) {
  stopping = true;
  for (const p of procs) if (p.exitCode === null) p.kill("SIGTERM");
  setTimeout(() => process.exit(code), 500).unref();
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

run("issuer", process.execPath, ["scripts/demo-issuer.mjs", "--port", "9001"]);
run("origin", process.execPath, ["scripts/demo-origin.mjs", "--port", "9002"]);
run("wrangler", process.execPath, [
  "node_modules/wrangler/bin/wrangler.js", "dev", "--ip", "127.0.0.1", "--port", "8787",
  "--var", "ADMIN_TOKENS:demo-admin-token-change-me", "--show-interactive-dev-session=false",
]);

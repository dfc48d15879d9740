// The parent's side of servers-child.mjs: fork the origin and the issuer, each in its own process,
// and read their counters over IPC. Every wait is bounded.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("./servers-child.mjs", import.meta.url));
const TIMEOUT_MS = 10_000;

/**
 * @typedef {{ requests: number, spoofed: number, jwksFetches: Record<string, number> }} ServerStats
 * @typedef {{ url: string, pid: number, stats: () => Promise<ServerStats>, stop: () => Promise<void> }} Server
 */

/**
 * @param {import("node:child_process").ChildProcess} child
 * @param {(message: any) => boolean} match
 * @returns {Promise<any>}
 */
function nextMessage(child, match) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error("the bench server did not answer in time"));
    }, TIMEOUT_MS);
    const onMessage = (/** @type {any} */ m) => {
      if (!match(m)) return;
      cleanup();
      resolve(m);
    };
    const onExit = () => {
      cleanup();
      reject(new Error("the bench server exited"));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/**
 * @param {"origin" | "issuer"} role
 * @returns {Promise<Server & { child: import("node:child_process").ChildProcess }>}
 */
async function startServer(role) {
  const child = fork(CHILD, [role], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const ready = await nextMessage(child, (m) => m?.type === "ready");
  let nextId = 0;
  return {
    child,
    url: `http://127.0.0.1:${ready.port}`,
    pid: /** @type {number} */ (child.pid),
    async stats() {
      const id = ++nextId;
      const answer = nextMessage(child, (m) => m?.type === "stats" && m.id === id);
      child.send({ type: "stats", id });
      return (await answer).stats;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The echoing origin: every target forwards to it. */
export const startOrigin = () => startServer("origin");

/**
 * The issuer: discovery at /.well-known/openid-configuration and `jwks` at /jwks/<label>.json.
 * @param {{ keys: unknown[] }} jwks
 */
export async function startIssuer(jwks) {
  const server = await startServer("issuer");
  const set = nextMessage(server.child, (m) => m?.type === "jwks-set");
  server.child.send({ type: "jwks", jwks });
  await set;
  return { ...server, jwksUri: (/** @type {string} */ label) => `${server.url}/jwks/${label}.json` };
}

/**
 * The origin and the issuer (serving `jwks`), each stopped by `cleanups` at the end of the run.
 * @param {{ keys: unknown[] }} jwks
 * @param {{ push: (step: () => unknown) => unknown }} cleanups
 */
export async function startOriginAndIssuer(jwks, cleanups) {
  const origin = await startOrigin();
  cleanups.push(() => origin.stop());
  const issuer = await startIssuer(jwks);
  cleanups.push(() => issuer.stop());
  return { origin, issuer };
}

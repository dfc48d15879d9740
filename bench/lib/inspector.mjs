// A Chrome DevTools Protocol session with a Worker's isolate over Miniflare's inspector, bounded in
// time. workerd runs some commands (a GC, stopping the profiler) only when the isolate next gets
// to run, so a `kick` sends it a request every 200 ms while an answer is awaited.
import { sleep } from "./proc.mjs";

/**
 * @param {string} wsUrl
 * @param {() => Promise<unknown>} kick
 */
export async function inspectorSession(wsUrl, kick) {
  const ws = new WebSocket(wsUrl);
  /** @type {Map<number, (r: any) => void>} */
  const pending = new Map();
  let nextId = 1;
  ws.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data));
    if (typeof message.id === "number") pending.get(message.id)?.(message);
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("inspector: connect timed out")), 10_000);
    ws.addEventListener("open", () => (clearTimeout(timer), resolve(undefined)));
    ws.addEventListener(
      "error",
      () => (clearTimeout(timer), reject(new Error(`inspector: cannot connect to ${wsUrl}`))),
    );
  });
  return {
    /**
     * @param {string} method
     * @param {object} [params]
     * @returns {Promise<any>} the command's result
     */
    async send(method, params) {
      const id = nextId++;
      let message = null;
      const answer = new Promise((resolve) => pending.set(id, resolve)).then((m) => (message = m));
      ws.send(JSON.stringify({ id, method, ...(params ? { params } : {}) }));
      for (let tries = 0; message === null && tries < 150; tries++) {
        await Promise.race([answer, sleep(200)]);
        if (message === null) await kick().catch(() => {});
      }
      pending.delete(id);
      const m = /** @type {any} */ (message);
      if (m === null) throw new Error(`inspector: ${method} timed out`);
      if (m.error) throw new Error(`inspector: ${method}: ${m.error.message}`);
      return m.result;
    },
    close: () => ws.close(),
  };
}

/**
 * CDP commands over a fresh session, one after the other.
 * @param {string} wsUrl
 * @param {{ method: string, params?: object }[]} commands
 * @param {() => Promise<unknown>} kick
 * @returns {Promise<any[]>} each command's result
 */
export async function cdp(wsUrl, commands, kick) {
  const session = await inspectorSession(wsUrl, kick);
  try {
    const results = [];
    for (const { method, params } of commands) results.push(await session.send(method, params));
    return results;
  } finally {
    session.close();
  }
}

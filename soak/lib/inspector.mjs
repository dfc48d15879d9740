// The Worker isolate's heap, read over `wrangler dev --inspector-port`, after a full GC.
//
// wrangler dev serves the inspector through its InspectorProxyWorker at ws://<ip>:<port>/ws, which
// forwards to the user Worker's isolate (the one that also runs the RevocationLedger: workerd runs
// a Worker's Durable Objects in the Worker's isolate). Two things differ from bench/lib's
// Miniflare inspector:
//   - the proxy refuses a client without an Origin header when it sends a User-Agent (Node does), so
//     the session sends Origin: http://127.0.0.1;
//   - the proxy keeps every message of the isolate (a console entry per request: the decision log)
//     in a buffer until a DevTools client connects, then hands all of it over. So one session is
//     opened right after start and kept for the whole run: the buffer never grows in wrangler's
//     process, and nothing large arrives at sampling time.
// workerd runs some commands (a GC) only when the isolate next runs, so `kick` sends it a request
// every 200 ms while an answer is awaited.
import { sleep } from "../../bench/lib/proc.mjs";

const CONNECT_TIMEOUT_MS = 10_000;
const COMMAND_TRIES = 150; // x 200 ms
const MAX_EXCEPTIONS = 50;

/**
 * @typedef {{ atMs: number, text: string, frames: string[] }} ThrownException `frames`: "function url:line:column"
 */

/**
 * @param {any} params Runtime.exceptionThrown's
 * @param {number} atMs
 * @returns {ThrownException}
 */
function describe(params, atMs) {
  const details = params?.exceptionDetails ?? {};
  const text = String(details.exception?.description ?? details.text ?? "").slice(0, 2000);
  const frames = (details.stackTrace?.callFrames ?? [])
    .slice(0, 20)
    .map(
      (/** @type {any} */ f) => `${f.functionName || "(anonymous)"} ${f.url}:${f.lineNumber + 1}:${f.columnNumber + 1}`,
    );
  return { atMs, text, frames };
}

/**
 * @typedef {{
 *   label: string, atMs: number, usedBytes: number, totalBytes: number, backingStoreBytes: number,
 *   isolateId: string, workerdRssBytes: number,
 * }} HeapSample `usedBytes` is the JS heap; `backingStoreBytes` the ArrayBuffer memory outside it
 */

/**
 * @param {{ port: number, kick: () => Promise<unknown>, rss: () => number, now: () => number }} o
 */
export async function openInspector({ port, kick, rss, now }) {
  const ws = new WebSocket(
    `ws://127.0.0.1:${port}/ws`,
    /** @type {any} */ ({ headers: { Origin: "http://127.0.0.1" } }),
  );
  /** @type {Map<number, (m: any) => void>} */
  const pending = new Map();
  let nextId = 1;
  let closed = false;
  /** @type {ThrownException[]} */
  const exceptions = [];
  ws.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(String(event.data));
    } catch {
      return;
    }
    // Answers to our commands carry our id. Of the rest (console entries), only uncaught
    // exceptions are kept, with their stack, to explain an answer the Worker failed to give.
    if (typeof message.id === "number") pending.get(message.id)?.(message);
    else if (message.method === "Runtime.exceptionThrown" && exceptions.length < MAX_EXCEPTIONS)
      exceptions.push(describe(message.params, now()));
  });
  ws.addEventListener("close", () => (closed = true));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`inspector: no connection to 127.0.0.1:${port} within ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    ws.addEventListener("open", () => (clearTimeout(timer), resolve(undefined)));
    ws.addEventListener(
      "error",
      () => (clearTimeout(timer), reject(new Error(`inspector: cannot connect to 127.0.0.1:${port}`))),
    );
  });

  /**
   * @param {string} method
   * @param {object} [params]
   * @returns {Promise<any>}
   */
  async function send(method, params) {
    if (closed) throw new Error("inspector: the session was closed");
    const id = nextId++;
    let message = null;
    const answer = new Promise((resolve) => pending.set(id, resolve)).then((m) => (message = m));
    ws.send(JSON.stringify({ id, method, ...(params ? { params } : {}) }));
    for (let tries = 0; message === null && tries < COMMAND_TRIES; tries++) {
      await Promise.race([answer, sleep(200)]);
      if (message === null) await kick().catch(() => {});
    }
    pending.delete(id);
    const m = /** @type {any} */ (message);
    if (m === null) throw new Error(`inspector: ${method} got no answer`);
    if (m.error) throw new Error(`inspector: ${method}: ${m.error.message}`);
    return m.result;
  }

  return {
    /**
     * The heap after a full GC. The console entries V8 keeps for the inspector (up to 1 000 decision
     * lines) are discarded first, so that they never count; the GC runs twice so that what a
     * WeakMap held by something the first one freed is gone too.
     * @param {string} label
     * @returns {Promise<HeapSample>}
     */
    async heap(label) {
      await send("Runtime.discardConsoleEntries");
      await send("HeapProfiler.collectGarbage");
      await send("HeapProfiler.collectGarbage");
      const usage = await send("Runtime.getHeapUsage");
      const { id } = await send("Runtime.getIsolateId");
      return {
        label,
        atMs: now(),
        usedBytes: usage.usedSize,
        totalBytes: usage.totalSize,
        backingStoreBytes: usage.backingStorageSize ?? 0,
        isolateId: String(id),
        workerdRssBytes: rss(),
      };
    },
    /** The uncaught exceptions the isolate reported since the session opened (at most 50). */
    exceptions: () => [...exceptions],
    close: () => ws.close(),
  };
}

// Requests through the gateway, one at a time per caller, each recorded with its token, its send
// and answer times and its status. node:http with a keep-alive Agent rather than autocannon: the
// assertions need to know which token every single answer was for and when that request left,
// which autocannon's per-connection callbacks do not give reliably.
import { Agent, request } from "node:http";

/** Times are performance.now() milliseconds of this process: one monotonic clock for everything. */
export const now = () => performance.now();

/** @param {number} sockets */
export const keepAliveAgent = (sockets) => new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });

/**
 * @typedef {"warm" | "load" | "watch" | "sweep"} Source
 * @typedef {{ status: number, code: string | null }} Answer status 0 is a connection error, `code` its errno
 */

/**
 * Every answer of the run, column by column (tens of thousands of rows; objects would cost more).
 * `codes` holds the problem `code` (or the connection error) of the answers that were not 200.
 */
export class Recorder {
  /** @type {number[]} */ token = [];
  /** @type {number[]} */ sent = [];
  /** @type {number[]} */ done = [];
  /** @type {number[]} */ status = [];
  /** @type {Source[]} */ source = [];
  /** @type {Map<number, string>} */ codes = new Map();
  /** Requests retried once because a kept-alive socket had been closed under them (not errors). */
  staleSocketRetries = 0;

  /** @param {number} max the most rows kept; the load stops when it is reached */
  constructor(max) {
    this.max = max;
  }

  get length() {
    return this.status.length;
  }

  get full() {
    return this.length >= this.max;
  }

  /**
   * @param {number} token @param {number} sent @param {number} done @param {Answer} answer @param {Source} source
   */
  add(token, sent, done, answer, source) {
    if (this.full) return;
    const row = this.status.length;
    this.token.push(token);
    this.sent.push(sent);
    this.done.push(done);
    this.status.push(answer.status);
    this.source.push(source);
    if (answer.code !== null) this.codes.set(row, answer.code);
  }
}

/**
 * One GET with a bearer token. Never rejects: a connection error or a timeout is status 0.
 * @param {{ base: URL, path: string, token: string, agent: Agent, timeoutMs: number }} o
 * @returns {Promise<Answer & { reused: boolean }>}
 */
function getOnce({ base, path, token, agent, timeoutMs }) {
  return new Promise((resolve) => {
    let settled = false;
    /** @param {Answer & { reused: boolean }} a */
    const finish = (a) => {
      if (!settled) {
        settled = true;
        resolve(a);
      }
    };
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        path,
        method: "GET",
        agent,
        headers: { Authorization: `Bearer ${token}` },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status === 200) {
          res.resume();
          res.on("end", () => finish({ status, code: null, reused: req.reusedSocket }));
        } else {
          // A denial is a small problem+json body; its `code` says why, for the examples printed.
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d) => (body = (body + d).slice(0, 4096)));
          res.on("end", () => {
            // Not a problem body (not the authorizer's answer, e.g. the dev tooling's): the status and
            // the body's start, so the examples say who answered.
            let code = `status ${status}: ${body.replace(/\s+/g, " ").trim().slice(0, 80) || "(empty body)"}`;
            try {
              code = String(JSON.parse(body).code ?? code);
            } catch {
              // not JSON: keep the status and the body's start
            }
            finish({ status, code, reused: req.reusedSocket });
          });
        }
        res.on("error", (e) =>
          finish({ status: 0, code: /** @type {any} */ (e).code ?? e.message, reused: req.reusedSocket }),
        );
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", (e) =>
      finish({ status: 0, code: /** @type {any} */ (e).code ?? e.message, reused: req.reusedSocket }),
    );
    req.end();
  });
}

/**
 * GET /orders/<i> with pool token i, recorded. A request that failed on a reused keep-alive socket
 * before any answer is retried once (the server closed an idle socket as we picked it up; Node's
 * documentation prescribes exactly this retry); it is counted, not treated as an error.
 * @param {{ base: URL, agent: Agent, rec: Recorder, source: Source, timeoutMs?: number }} ctx
 * @param {number} i the token's index in the pool
 * @param {string} token
 * @returns {Promise<Answer>}
 */
export async function getRecorded(ctx, i, token) {
  const args = { base: ctx.base, path: `/orders/${i}`, token, agent: ctx.agent, timeoutMs: ctx.timeoutMs ?? 10_000 };
  let sent = now();
  let answer = await getOnce(args);
  if (answer.status === 0 && answer.reused && (answer.code === "ECONNRESET" || answer.code === "EPIPE")) {
    ctx.rec.staleSocketRetries++;
    sent = now();
    answer = await getOnce(args);
  }
  const a = { status: answer.status, code: answer.code };
  ctx.rec.add(i, sent, now(), a, ctx.source);
  return a;
}

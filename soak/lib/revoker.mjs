// Revocations at a steady rate through POST /.auth/revoke, and a watch on each one.
//
// The k-th revocation leaves at start + (k + 0.5) / rate whatever happened to the ones before (a
// slow answer must not slow the arrivals down), with at most MAX_IN_FLIGHT waiting for answers.
// Each carries an Idempotency-Key and is retried under the same key after a connection error or a
// 5xx, so a retry can never record it twice. Its time of revocation is when the 200 arrived here.
//
// The watch: the random load reaches a given token every few seconds only, too coarse to see when
// a revocation takes hold. So after each 200 the revoked tokens are asked for in turn every
// WATCH_FAST_MS until one is denied, then every WATCH_SLOW_MS until the bound has passed by
// WATCH_TAIL_MS. Every answer goes to the same recorder as the load's and is judged the same way.
import { sleep } from "../../bench/lib/proc.mjs";
import { getRecorded, now } from "./http.mjs";

const MAX_IN_FLIGHT = 8;
const ATTEMPTS = 3;
const REVOKE_TIMEOUT_MS = 15_000;
const WATCH_FAST_MS = 200;
const WATCH_SLOW_MS = 1_000;
const WATCH_TAIL_MS = 2_000;

/**
 * @typedef {{
 *   k: number, kind: import("./pool.mjs").Kind, value: string, tokens: number[],
 *   sentAt: number, revokedAt: number | null, seq: number | null, attempts: number,
 *   status: number | null, error: string | null, answer: any,
 *   watched: number, firstDenialAt: number | null,
 * }} RevocationResult
 */

/**
 * @param {{
 *   gateway: string, adminToken: string, plan: import("./pool.mjs").PlannedRevocation[], rate: number,
 *   startMs: number, boundMs: number, watchCtx: Parameters<typeof getRecorded>[0],
 *   tokens: import("./pool.mjs").PoolToken[], log: (line: string) => void,
 * }} o
 * @returns {Promise<RevocationResult[]>} in plan order
 */
export async function runRevocations({ gateway, adminToken, plan, rate, startMs, boundMs, watchCtx, tokens, log }) {
  /** @type {RevocationResult[]} */
  const results = [];
  /** @type {Promise<void>[]} */
  const running = [];
  let inFlight = 0;
  for (const p of plan) {
    const at = startMs + ((p.k + 0.5) / rate) * 1000;
    while (now() < at) await sleep(Math.min(250, at - now()));
    for (let i = 0; inFlight >= MAX_IN_FLIGHT && i < 600; i++) await sleep(100);
    /** @type {RevocationResult} */
    const r = {
      k: p.k,
      kind: p.kind,
      value: p.value,
      tokens: p.tokens,
      sentAt: now(),
      revokedAt: null,
      seq: null,
      attempts: 0,
      status: null,
      error: null,
      answer: null,
      watched: 0,
      firstDenialAt: null,
    };
    results.push(r);
    inFlight++;
    running.push(
      (async () => {
        try {
          await revokeOne(gateway, adminToken, p.body, r);
        } finally {
          inFlight--;
        }
        if (r.revokedAt === null) {
          log(`revocation ${p.k} (${p.kind} ${p.value}) NOT acknowledged: ${r.error ?? r.status}`);
          return;
        }
        await watch(r, boundMs, watchCtx, tokens);
      })(),
    );
  }
  await Promise.all(running);
  return results;
}

/**
 * @param {string} gateway @param {string} adminToken @param {Record<string, unknown>} body
 * @param {RevocationResult} r filled in
 */
async function revokeOne(gateway, adminToken, body, r) {
  const key = crypto.randomUUID();
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    r.attempts = attempt;
    try {
      const res = await fetch(`${gateway}/.auth/revoke`, {
        method: "POST",
        headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json", "Idempotency-Key": key },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REVOKE_TIMEOUT_MS),
      });
      const text = await res.text();
      r.status = res.status;
      if (res.status === 200) {
        r.revokedAt = now();
        r.answer = JSON.parse(text);
        r.seq = r.answer.seq;
        r.error = null;
        return;
      }
      r.error = text.slice(0, 300);
      if (res.status < 500) return; // a 4xx will not change on a retry
    } catch (e) {
      r.error = e instanceof Error ? e.message : String(e);
    }
    await sleep(500 * attempt);
  }
}

/**
 * @param {RevocationResult} r @param {number} boundMs
 * @param {Parameters<typeof getRecorded>[0]} ctx @param {import("./pool.mjs").PoolToken[]} tokens
 */
async function watch(r, boundMs, ctx, tokens) {
  const revokedAt = /** @type {number} */ (r.revokedAt);
  const until = revokedAt + boundMs + WATCH_TAIL_MS;
  const maxPolls = Math.ceil((boundMs + WATCH_TAIL_MS) / WATCH_FAST_MS) + 10;
  for (let n = 0; n < maxPolls && now() < until; n++) {
    const i = /** @type {number} */ (r.tokens[n % r.tokens.length]);
    const sent = now();
    const answer = await getRecorded(ctx, i, /** @type {import("./pool.mjs").PoolToken} */ (tokens[i]).token);
    r.watched++;
    if (r.firstDenialAt === null && answer.status === 401 && answer.code === "token_revoked") r.firstDenialAt = sent;
    const next = sent + (r.firstDenialAt === null ? WATCH_FAST_MS : WATCH_SLOW_MS);
    if (next > now()) await sleep(next - now());
  }
}

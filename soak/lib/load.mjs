// The steady load: N connections, each sending one request after the other with a token drawn at
// random from the whole pool (revoked tokens included: a client whose token was revoked keeps
// trying, and those answers are what the bound is checked on). Plus the bounded passes over a list
// of tokens used to warm up and for the final sweep.
import { sleep } from "../../bench/lib/proc.mjs";
import { getRecorded, now } from "./http.mjs";

/**
 * @param {{
 *   ctx: Parameters<typeof getRecorded>[0], tokens: import("./pool.mjs").PoolToken[],
 *   connections: number, untilMs: number, random: { int: (n: number) => number },
 * }} o
 */
export async function runLoad({ ctx, tokens, connections, untilMs, random }) {
  const perConnectionMax = Math.ceil(ctx.rec.max / connections);
  const connection = async () => {
    for (let n = 0; n < perConnectionMax && now() < untilMs && !ctx.rec.full; n++) {
      const i = random.int(tokens.length);
      const answer = await getRecorded(ctx, i, /** @type {import("./pool.mjs").PoolToken} */ (tokens[i]).token);
      // After a connection error, do not spin against a server that is not there.
      if (answer.status === 0) await sleep(100);
    }
  };
  await Promise.all(Array.from({ length: connections }, connection));
}

/**
 * One request per listed token, `concurrency` at a time.
 * @param {{ ctx: Parameters<typeof getRecorded>[0], tokens: import("./pool.mjs").PoolToken[], indices: number[], concurrency: number }} o
 * @returns {Promise<Map<number, import("./http.mjs").Answer>>} the answer per token index
 */
export async function pass({ ctx, tokens, indices, concurrency }) {
  /** @type {Map<number, import("./http.mjs").Answer>} */
  const answers = new Map();
  let next = 0;
  const one = async () => {
    while (next < indices.length) {
      const i = /** @type {number} */ (indices[next++]);
      answers.set(i, await getRecorded(ctx, i, /** @type {import("./pool.mjs").PoolToken} */ (tokens[i]).token));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, indices.length) }, one));
  return answers;
}

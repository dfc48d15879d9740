// The soak's tokens and its revocation plan.
//
// Tokens come in users of 2 sessions of 5 tokens (sub soak-u<i>, sid soak-u<i>-s<j>, one jti each),
// so that every kind of revocation has something to hit and siblings that must keep passing. Half
// the users are a control group that is never revoked. The plan hands each revocation a target no
// other revocation touches (a whole user for `sub`, one session for `sid`, one token for `jti` and
// `token`), so every token is revoked at most once and "when was this token revoked" has one answer.
import { mint } from "../../bench/lib/tokens.mjs";

export const SESSIONS_PER_USER = 2;
export const TOKENS_PER_SESSION = 5;
const PER_USER = SESSIONS_PER_USER * TOKENS_PER_SESSION;
const MINT_BATCH = 512;

/** The order kinds come in: 3/8 jti, 2/8 token, 2/8 sid, 1/8 sub. */
const KIND_CYCLE = /** @type {const} */ (["jti", "token", "sid", "jti", "sub", "token", "sid", "jti"]);

/**
 * @typedef {{ i: number, token: string, jti: string, exp: number, sub: string, sid: string, user: number }} PoolToken
 * @typedef {{ tokens: PoolToken[], users: number, revocableUsers: number[] }} Pool
 * @typedef {"jti" | "token" | "sid" | "sub"} Kind
 * @typedef {{ k: number, kind: Kind, value: string, body: Record<string, unknown>, tokens: number[] }} PlannedRevocation
 */

/**
 * A small seeded generator (mulberry32), so a run's choices can be repeated with --seed.
 * @param {number} seed
 */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (/** @type {number} */ n) => Math.floor(next() * n) };
}

/**
 * @template T
 * @param {T[]} xs shuffled in place
 * @param {{ int: (n: number) => number }} random
 */
function shuffle(xs, random) {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [xs[i], xs[j]] = [/** @type {T} */ (xs[j]), /** @type {T} */ (xs[i])];
  }
  return xs;
}

/**
 * Mints `count` tokens (rounded up to whole users), ES256, all with the issuer's audience and the
 * scope the route needs, living `lifetimeS`.
 * @param {{ key: import("../../bench/lib/tokens.mjs").SigningKey, iss: string, count: number, lifetimeS: number, random: ReturnType<typeof rng> }} o
 * @returns {Promise<Pool>}
 */
export async function makePool({ key, iss, count, lifetimeS, random }) {
  const users = Math.ceil(count / PER_USER);
  const now = Math.floor(Date.now() / 1000);
  /** @type {Omit<PoolToken, "token">[]} */
  const specs = [];
  for (let u = 0; u < users; u++) {
    for (let s = 0; s < SESSIONS_PER_USER; s++) {
      for (let t = 0; t < TOKENS_PER_SESSION; t++) {
        specs.push({
          i: specs.length,
          jti: crypto.randomUUID(),
          exp: now + lifetimeS,
          sub: `soak-u${u}`,
          sid: `soak-u${u}-s${s}`,
          user: u,
        });
      }
    }
  }
  /** @type {PoolToken[]} */
  const tokens = [];
  for (let i = 0; i < specs.length; i += MINT_BATCH) {
    const batch = specs.slice(i, i + MINT_BATCH);
    const signed = await Promise.all(
      batch.map((p) => mint(key, iss, { sub: p.sub, sid: p.sid, jti: p.jti, iat: now, exp: p.exp })),
    );
    batch.forEach((p, j) => tokens.push({ ...p, token: /** @type {string} */ (signed[j]) }));
  }
  // Odd users may be revoked, even users never are (the control group).
  const revocableUsers = shuffle(
    Array.from({ length: users }, (_, u) => u).filter((u) => u % 2 === 1),
    random,
  );
  return { tokens, users, revocableUsers };
}

/**
 * Users the plan consumes for `count` revocations: per 8, one user for the sub, one for two sids,
 * half a user for five single tokens.
 * @param {number} count
 */
export const usersNeeded = (count) => Math.ceil(count * (1 / 8 + 1 / 8 + 5 / 80)) + 2;

/**
 * `count` revocations, each with a target of its own (see the top of this file) and the body that
 * POST /.auth/revoke takes for it. `sub` goes without `iss` (every issuer), the others with it.
 * @param {Pool} pool
 * @param {number} count
 * @param {string} iss
 * @returns {PlannedRevocation[]}
 */
export function planRevocations(pool, count, iss) {
  const fresh = [...pool.revocableUsers];
  if (fresh.length < usersNeeded(count)) {
    throw new Error(
      `${count} revocations need about ${usersNeeded(count)} revocable users; ${pool.tokens.length} tokens give ${fresh.length}. ` +
        `Raise --tokens to ${usersNeeded(count) * 2 * PER_USER} or lower --rate / --duration.`,
    );
  }
  const byUser = (/** @type {number} */ u) => pool.tokens.filter((t) => t.user === u);
  /** @type {PoolToken[][]} */
  const sessions = [];
  /** @type {PoolToken[]} */
  const singles = [];
  const takeUser = () => {
    const u = fresh.shift();
    if (u === undefined) throw new Error("the revocation plan ran out of users"); // excluded by the check above
    return byUser(u);
  };
  /** @type {PlannedRevocation[]} */
  const plan = [];
  for (let k = 0; k < count; k++) {
    const kind = /** @type {Kind} */ (KIND_CYCLE[k % KIND_CYCLE.length]);
    if (kind === "sub") {
      const tokens = takeUser();
      const sub = /** @type {PoolToken} */ (tokens[0]).sub;
      plan.push({ k, kind, value: sub, body: { sub }, tokens: tokens.map((t) => t.i) });
    } else if (kind === "sid") {
      if (sessions.length === 0) {
        const tokens = takeUser();
        for (let s = 0; s < SESSIONS_PER_USER; s++)
          sessions.push(tokens.slice(s * TOKENS_PER_SESSION, (s + 1) * TOKENS_PER_SESSION));
      }
      const session = /** @type {PoolToken[]} */ (sessions.shift());
      const sid = /** @type {PoolToken} */ (session[0]).sid;
      plan.push({ k, kind, value: sid, body: { sid, iss }, tokens: session.map((t) => t.i) });
    } else {
      if (singles.length === 0) singles.push(...takeUser());
      const t = /** @type {PoolToken} */ (singles.shift());
      // {"token"} is revoked by its jti too (the token has one), so both kinds land as a jti entry.
      const body = kind === "jti" ? { jti: t.jti, exp: t.exp, iss } : { token: t.token };
      plan.push({ k, kind, value: t.jti, body, tokens: [t.i] });
    }
  }
  return plan;
}

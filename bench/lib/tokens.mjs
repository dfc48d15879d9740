// The issuer's keys (one ES256, one RS256, made fresh each run) and the tokens every target sees:
// the same lists, in the same order, for every target. Minted with jose once per run.
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from "jose";

export const AUDIENCE = "bench-api";
/** The scope the project's bench POLICY requires, and that every load token carries. */
export const SCOPE = "read";
export const ALGS = /** @type {const} */ (["ES256", "RS256"]);
/** @typedef {(typeof ALGS)[number]} Alg */

const KID = { ES256: "bench-es256", RS256: "bench-rs256" };
const BATCH = 512;

/**
 * @typedef {{ privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"], kid: string, alg: Alg }} SigningKey
 * @typedef {{ keys: Record<Alg, SigningKey>, jwks: { keys: Record<string, unknown>[] } }} Issuer
 */

/** @returns {Promise<Issuer>} */
export async function makeKeys() {
  /** @type {Record<string, SigningKey>} */
  const keys = {};
  const jwks = [];
  for (const alg of ALGS) {
    const { privateKey, publicKey } = await generateKeyPair(alg, alg === "RS256" ? { modulusLength: 2048 } : {});
    keys[alg] = { privateKey, kid: KID[alg], alg };
    jwks.push({ ...(await exportJWK(publicKey)), kid: KID[alg], alg, use: "sig" });
  }
  return { keys: /** @type {Record<Alg, SigningKey>} */ (keys), jwks: { keys: jwks } };
}

/**
 * One signed token.
 * @param {SigningKey} key
 * @param {string} iss
 * @param {Record<string, unknown>} claims overrides (aud, exp, iat, ...)
 */
export function mint(key, iss, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss,
    aud: AUDIENCE,
    iat: now,
    exp: now + 3600,
    jti: crypto.randomUUID(),
    scope: SCOPE,
    ...claims,
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
    .sign(key.privateKey);
}

/**
 * `count` distinct tokens (each its own sub, sid and jti), signed in parallel batches.
 * @param {SigningKey} key
 * @param {string} iss
 * @param {number} count
 * @param {string} prefix keeps subjects of different lists apart
 * @returns {Promise<string[]>}
 */
export async function mintMany(key, iss, count, prefix) {
  /** @type {string[]} */
  const out = [];
  for (let i = 0; i < count; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + BATCH); j++)
      batch.push(mint(key, iss, { sub: `${prefix}-${j}`, sid: `${prefix}-s${j}` }));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/**
 * The workloads: for each algorithm, one token, 1 000 distinct tokens cycled, and `distinct[alg]`
 * distinct tokens (nothing reusable per token: each target walks them once, across rounds).
 * @param {Issuer} issuer
 * @param {string} iss
 * @param {Record<Alg, number>} distinct
 */
export async function makeWorkloads(issuer, iss, distinct) {
  /** @type {{ name: string, alg: Alg, kind: "one" | "cycled" | "distinct", tokens: string[] }[]} */
  const workloads = [];
  for (const alg of ALGS) {
    const thousand = await mintMany(issuer.keys[alg], iss, 1_000, `k-${alg}`);
    workloads.push({ name: `1 token ${alg}`, alg, kind: "one", tokens: thousand.slice(0, 1) });
    workloads.push({ name: `1 000 tokens ${alg}`, alg, kind: "cycled", tokens: thousand });
    const many = await mintMany(issuer.keys[alg], iss, distinct[alg], `d-${alg}`);
    workloads.push({
      name: `${distinct[alg].toLocaleString("en").replace(/,/g, " ")} distinct ${alg}`,
      alg,
      kind: "distinct",
      tokens: many,
    });
  }
  return workloads;
}

/**
 * The identity headers contract.md has the authorizer send for `token` (those its claims call for),
 * for the contract's floor (bench/workers/decompose/floor.ts), which sends them without reading a token.
 * @param {string} token
 * @returns {[string, string][]}
 */
export function contractIdentityHeaders(token) {
  const claims = decodeJwt(token);
  /** @type {[string, string][]} */
  const out = [];
  const names = /** @type {const} */ ([
    ["X-Auth-Subject", "sub"],
    ["X-Auth-Issuer", "iss"],
    ["X-Auth-Token-Id", "jti"],
    ["X-Auth-Session", "sid"],
    ["X-Auth-Scopes", "scope"],
    ["X-Auth-Expires", "exp"],
  ]);
  for (const [header, claim] of names) if (claims[claim] !== undefined) out.push([header, String(claims[claim])]);
  out.push(["X-Auth-Claims", /** @type {string} */ (token.split(".")[1])]);
  return out;
}

/**
 * The probe's tokens: good ones, and the three that must get 401 everywhere.
 * @param {Issuer} issuer
 * @param {string} iss
 */
export async function makeProbeTokens(issuer, iss) {
  const es = issuer.keys.ES256;
  const now = Math.floor(Date.now() / 1000);
  const { privateKey: otherKey } = await generateKeyPair("ES256");
  const revokedJti = crypto.randomUUID();
  return {
    valid: await mint(es, iss, { sub: "probe-user" }),
    validRs256: await mint(issuer.keys.RS256, iss, { sub: "probe-user-rs" }),
    /** Same kid and claims, signed by a key the issuer never published. */
    forged: await mint({ ...es, privateKey: otherKey }, iss, { sub: "probe-forged" }),
    /** Expired an hour ago, well past any clock tolerance. */
    expired: await mint(es, iss, { sub: "probe-expired", iat: now - 7200, exp: now - 3600 }),
    wrongAudience: await mint(es, iss, { sub: "probe-aud", aud: "someone-else" }),
    /** Valid, but its jti is among the seeded revocations (the 100 000-revocation target must deny it). */
    revoked: await mint(es, iss, { sub: "probe-revoked", jti: revokedJti }),
    revokedJti,
  };
}

// Tokens this isolate has already verified, so that a client's next request with the same token
// costs a Map lookup instead of a signature verification (the dominant CPU cost of a request).
//
// Why it is safe: the key is the whole token, byte for byte, so only the exact token that verified
// hits. A verification that succeeded at time t also succeeds later except for `exp` (nbf, iat and the
// lifetime cap only get easier as time passes), so a hit re-checks `exp` exactly as jose does. A hit
// also re-checks that the key which verified it is still in the issuer's key set: a key that leaves
// the JWKS stops verifying its tokens at the next refresh, cached or not. Revocation and policy are
// not cached: they run on every request. The cache belongs to one Config, so a new configuration
// starts empty.
import type { Config, Rule } from "../config";
import { MAX_VERIFIED_TOKEN_BYTES, MAX_VERIFIED_TOKENS } from "../constants";
import type { Probe } from "../revocation/hashed-index";
import type { ProvenKey } from "../sender/dpop-proof";
import type { StatusReference } from "../status-list/reference";
import type { TokenFacts } from "../revocation/model";
import { verifyToken, type KeyLookup, type VerifiedToken } from "./verify";

/**
 * What is kept per verified token besides its verification, each part computed on first use by the
 * module that needs it, so that a token answered from the cache costs lookups, not work: the rules it
 * met (authorize.ts), its identity headers for the claim mapping they were made with (identity.ts),
 * its revocation facts and probe (revocation/facts.ts), the ledger's answer kept through a KV
 * outage (revocation/check.ts), its hash and proven client key for DPoP proofs (sender/check.ts), and its
 * status list reference (status-list/check.ts). A token's claims never change, and everything here depends only on
 * them and on its Config, to which the cache belongs.
 */
export interface TokenMemo {
  met?: Set<Rule>;
  headers?: { claimHeaders: Record<string, string>; list: readonly [string, string][] };
  facts?: TokenFacts;
  probe?: Probe;
  ledgerAnswer?: { kind: string | null; untilMs: number };
  /** The token's hash as a DPoP proof names it (`ath`, sender/check.ts). */
  ath?: string;
  /** The client key that last proved possession for the token (sender/dpop-proof.ts ProvenKey). */
  dpopKey?: ProvenKey;
  /** Its reference into its issuer's Token Status List, null without one (status-list/check.ts). */
  statusRef?: StatusReference | null;
}

// The one per-token record, kept exactly as long as its verification: the cache's entries hold the
// verifications (its byte bound counts the record too, see sizeOf), and an evicted one's record goes
// with it. A verification not cached (a test's, a logout's) gets one that goes when it does.
const memos = new WeakMap<VerifiedToken, TokenMemo>();

/** The token's record. */
export function memoOf(verified: VerifiedToken): TokenMemo {
  let memo = memos.get(verified);
  if (!memo) memos.set(verified, (memo = {}));
  return memo;
}

/** Whether `key` still belongs to the issuer's usable key set; never waits on the network. */
export type KeyHeld = (verified: VerifiedToken) => boolean;

export class VerifiedTokens {
  // Least recently used first, nearly: a hit moves its entry to the end (a Map keeps insertion order)
  // once half the entries or more are newer than it, so a token in constant use costs a move (a
  // delete and a set) every size / 2 insertions rather than on every request (npm run
  // bench:decompose), and is never evicted while it is hit more often than that (true LRU would
  // keep it while hit once per size insertions; missing that costs one verification). With eviction by
  // insertion order alone, a stream of one-off tokens pushed out the tokens in constant use every
  // MAX_VERIFIED_TOKENS insertions, and each was verified again (npm run bench: the 1 000 cycled
  // tokens, behind the distinct-token workloads).
  private readonly entries = new Map<string, { verified: VerifiedToken; placed: number }>();
  private bytes = 0;
  /** Insertions and moves so far: an entry's `placed` says how far behind the newest it is. */
  private placements = 0;

  constructor(
    private readonly maxEntries = MAX_VERIFIED_TOKENS,
    private readonly maxBytes = MAX_VERIFIED_TOKEN_BYTES,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The verified token, unless it has expired (then it is dropped). */
  get(token: string, nowSec: number, toleranceSec: number): VerifiedToken | undefined {
    const hit = this.entries.get(token);
    if (hit === undefined) return undefined;
    // jose's rule: expired when exp <= now - tolerance.
    if (hit.verified.claims.exp! <= nowSec - toleranceSec) {
      this.delete(token);
      return undefined;
    }
    if (this.placements - hit.placed >= this.entries.size / 2) {
      this.entries.delete(token);
      hit.placed = ++this.placements;
      this.entries.set(token, hit);
    }
    return hit.verified;
  }

  add(token: string, verified: VerifiedToken): void {
    if (this.entries.has(token)) this.delete(token);
    this.entries.set(token, { verified, placed: ++this.placements });
    this.bytes += sizeOf(token);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.delete(oldest);
    }
  }

  delete(token: string): void {
    if (this.entries.delete(token)) this.bytes -= sizeOf(token);
  }
}

/**
 * The token, about as large again for its parsed claims, as large again for its identity headers
 * (X-Auth-Claims is its payload), and its record's facts, probe and rules (about 1 KiB).
 */
const sizeOf = (token: string) => token.length * 3 + 1024;

// One cache per Config; Configs live as long as their env, i.e. the isolate (see config.ts).
const caches = new WeakMap<Config, VerifiedTokens>();

export function verifiedTokensOf(config: Config): VerifiedTokens {
  let cache = caches.get(config);
  if (!cache) caches.set(config, (cache = new VerifiedTokens()));
  return cache;
}

/** verifyToken, answered from the cache when this exact token verified before and still would. */
export async function verifyCached(
  token: string,
  config: Config,
  keyFor: KeyLookup,
  keyHeld: KeyHeld,
  nowMs: number,
  /** Told whether the answer came from the cache (the decision's trace, for METRICS). */
  seen?: { cached?: boolean },
): Promise<VerifiedToken> {
  const cache = verifiedTokensOf(config);
  const hit = cache.get(token, Math.floor(nowMs / 1000), config.clockToleranceSeconds);
  if (hit !== undefined) {
    if (keyHeld(hit)) {
      if (seen) seen.cached = true;
      return hit;
    }
    cache.delete(token);
  }
  if (seen) seen.cached = false;
  const verified = await verifyToken(token, config, keyFor, nowMs);
  cache.add(token, verified);
  return verified;
}

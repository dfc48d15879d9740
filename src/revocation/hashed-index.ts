// The edge's matching logic, written once and free of bindings: which active revocation denies a
// token, over a compact form an isolate loads without parsing. An entry is the 64-bit hash of what
// it names (kind, issuer or "" for any, value) and the second it was made (`at`): 12 bytes, against
// about 100 for the JSON entry in Maps it replaces. The bulk comes from the snapshot as sorted
// records, searched in place (binary search); entries newer than the snapshot sit in a small Map.
//
// Why a hash is safe: a token is looked up by the hashes of its own claims, so a revoked token always
// finds its entry; a collision can only make an unrevoked token meet an entry that is not its own,
// i.e. deny, never pass. The hash is SHA-256 cut to 64 bits, so nobody can aim a revocation they can
// make (a logout of their own token) at another user's value. With n active entries and up to six
// lookups a token, a valid token is denied by chance with probability about 6n / 2^64: 3.3e-13 at
// 1 000 000 entries.
import type { RevocationKind, TokenFacts } from "./model";
import { denies } from "./model";

/** One snapshot record: hash high word, hash low word, at; little-endian uint32 each. */
export const RECORD_BYTES = 12;

const encoder = new TextEncoder();

/** The entry's hash: 16 lowercase hex digits (64 bits of SHA-256 over kind, issuer and value). */
export async function entryHash(kind: RevocationKind, iss: string, value: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`${kind}\n${iss}\n${value}`)));
  let hex = "";
  for (let i = 0; i < 8; i++) hex += digest[i]!.toString(16).padStart(2, "0");
  return hex;
}

/** A hash as it is compared: the Map key and the two words of a record. */
interface Key {
  hex: string;
  hi: number;
  lo: number;
}

function keyOf(hex: string): Key {
  return { hex, hi: parseInt(hex.slice(0, 8), 16), lo: parseInt(hex.slice(8), 16) };
}

/** What a token is looked up by: each of its claims that a revocation can name, per issuer. */
export interface Probe {
  /** jti (or token) keys: any hit denies. */
  exact: Key[];
  exactKind: "jti" | "token";
  sub: Key[];
  sid: Key[];
  email: Key[];
  /** The token's iat as TokenFacts gives it (less the clock tolerance). */
  iat?: number;
}

/** The probe of a token's facts: up to eight hashes, computed once per verification by the caller. */
export async function probeOf(facts: TokenFacts): Promise<Probe> {
  const both = async (kind: RevocationKind, value: string | undefined) =>
    value === undefined
      ? []
      : [keyOf(await entryHash(kind, facts.iss, value)), keyOf(await entryHash(kind, "", value))];
  const exactKind = facts.jti !== undefined ? "jti" : "token";
  return {
    exact: await both(exactKind, facts.jti ?? facts.tokenSha256),
    exactKind,
    sub: await both("sub", facts.sub),
    sid: await both("sid", facts.sid),
    email: await both("email", facts.email),
    iat: facts.iat,
  };
}

/** Writes sorted (hash, at) pairs as snapshot records; equal hashes (a collision) keep the latest at. */
export function encodeRecords(sorted: Iterable<{ h: string; at: number }>, count: number): Uint8Array {
  const bytes = new Uint8Array(count * RECORD_BYTES);
  const view = new DataView(bytes.buffer);
  let n = 0;
  let last = "";
  for (const { h, at } of sorted) {
    if (h === last && n > 0) {
      const o = (n - 1) * RECORD_BYTES + 8;
      view.setUint32(o, Math.max(view.getUint32(o, true), at), true);
      continue;
    }
    const { hi, lo } = keyOf(h);
    const o = n * RECORD_BYTES;
    view.setUint32(o, hi, true);
    view.setUint32(o + 4, lo, true);
    view.setUint32(o + 8, at, true);
    last = h;
    n++;
  }
  return bytes.subarray(0, n * RECORD_BYTES);
}

/**
 * The at of the key's record in one sorted chunk, or undefined. The chunk is read as uint32 words in
 * the platform's order, which is little-endian wherever workerd and V8 run (x86-64, arm64): a
 * Uint32Array search is several times faster than one through a DataView (npm run bench:revocations).
 */
function search(words: Uint32Array, key: Key): number | undefined {
  let low = 0;
  let high = words.length / 3 - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const o = mid * 3;
    const hi = words[o]!;
    if (hi === key.hi) {
      const lo = words[o + 1]!;
      if (lo === key.lo) return words[o + 2];
      if (lo < key.lo) low = mid + 1;
      else high = mid - 1;
    } else if (hi < key.hi) low = mid + 1;
    else high = mid - 1;
  }
  return undefined;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class RevocationIndex {
  /** Entries after the snapshot, by hash: hex -> at (the latest). */
  private readonly delta = new Map<string, number>();
  private readonly chunks: Uint32Array[];

  /** `snapshot`: chunks of sorted records, as the ledger writes them (kept as they are, not copied). */
  constructor(snapshot: readonly ArrayBuffer[] = []) {
    if (!LITTLE_ENDIAN && snapshot.length > 0)
      throw new Error("the snapshot's records are little-endian; this platform is not");
    this.chunks = snapshot.map((b) => new Uint32Array(b, 0, Math.floor(b.byteLength / RECORD_BYTES) * 3));
  }

  /** Active entries held: the snapshot's records plus the newer ones (an entry in both counts twice). */
  get size(): number {
    let n = this.delta.size;
    for (const c of this.chunks) n += c.length / 3;
    return n;
  }

  /** Adds one entry; an entry only ever raises its hash's at, so entries apply in any order. */
  add(h: string, at: number): void {
    const previous = this.delta.get(h);
    this.delta.set(h, previous === undefined ? at : Math.max(previous, at));
  }

  /** Which kind of revocation denies the token, if any. */
  revokedBy(probe: Probe): RevocationKind | null {
    for (const key of probe.exact) if (this.at(key) !== undefined) return probe.exactKind;
    for (const kind of ["sub", "sid", "email"] as const) {
      for (const key of probe[kind]) {
        const at = this.at(key);
        if (at !== undefined && denies(kind, at, probe.iat)) return kind;
      }
    }
    return null;
  }

  /** The latest at of the key, snapshot and newer entries together. */
  private at(key: Key): number | undefined {
    let at = this.delta.size === 0 ? undefined : this.delta.get(key.hex);
    for (const chunk of this.chunks) {
      const found = search(chunk, key);
      if (found !== undefined && (at === undefined || found > at)) at = found;
    }
    return at;
  }
}

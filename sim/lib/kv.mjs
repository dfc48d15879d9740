// KV as Cloudflare documents it, per location, over the real Miniflare KV namespace the real ledger
// writes (https://developers.cloudflare.com/kv/concepts/how-kv-works/):
//   - a write becomes visible in a location only `propagationMs` after it was made (default 60 s);
//   - each read is cached in the location for `cacheTtlMs` from the read (default 60 s, the
//     binding's default cacheTtl), missing keys too (a "not found" is cached the same way).
// KvMirror polls the real namespace (list + get, every pollMs) and keeps, per key, the history of
// values with the time each was first seen by the poll (a deletion is a `null` value). A location
// serves, on a cache miss, the newest value first seen at least propagationMs ago, and caches it.
// The poll's resolution (pollMs plus a round trip) only makes a write look later, never earlier.

/** Keys the layout writes once and never changes (kv-layout.ts): read once by the poll. */
const IMMUTABLE = /^revocations\/(segment|records|snapshot)\//;

export class KvMirror {
  /**
   * @param {{ list: (o: any) => Promise<any>, get: (k: string, t: "arrayBuffer") => Promise<ArrayBuffer | null> }} kv the real namespace
   * @param {() => number} clock
   */
  constructor(kv, clock) {
    this.kv = kv;
    this.clock = clock;
    /** @type {Map<string, { at: number, bytes: Uint8Array | null }[]>} */
    this.history = new Map();
    this.polls = 0;
    this.errors = 0;
  }

  async poll() {
    /** @type {Set<string>} */
    const names = new Set();
    let cursor;
    for (let page = 0; page < 100; page++) {
      const listed = await this.kv.list({ prefix: "revocations/", cursor });
      for (const k of listed.keys) names.add(k.name);
      if (listed.list_complete || !listed.cursor) break;
      cursor = listed.cursor;
    }
    for (const name of names) {
      const history = this.history.get(name);
      const last = history?.[history.length - 1];
      if (last && last.bytes !== null && IMMUTABLE.test(name)) continue;
      const value = await this.kv.get(name, "arrayBuffer");
      const bytes = value === null ? null : new Uint8Array(value);
      if (!last || !same(last.bytes, bytes)) this.record(name, bytes);
    }
    for (const [name, history] of this.history) {
      if (!names.has(name) && history[history.length - 1]?.bytes !== null) this.record(name, null);
    }
    this.polls++;
  }

  /** @param {string} name @param {Uint8Array | null} bytes */
  record(name, bytes) {
    let history = this.history.get(name);
    if (!history) this.history.set(name, (history = []));
    history.push({ at: this.clock(), bytes });
  }

  /** The newest value first seen at or before `t`; null if none (or deleted by then). */
  valueAsOf(/** @type {string} */ key, /** @type {number} */ t) {
    const history = this.history.get(key);
    if (!history) return null;
    for (let i = history.length - 1; i >= 0; i--) if (history[i].at <= t) return history[i].bytes;
    return null;
  }

  /**
   * Polls every pollMs until stop() or `untilMs` (and at most maxPolls times).
   * @param {number} pollMs @param {number} untilMs @param {number} maxPolls
   */
  start(pollMs, untilMs, maxPolls) {
    let stopped = false;
    const done = (async () => {
      for (let i = 0; i < maxPolls && !stopped && this.clock() < untilMs; i++) {
        const t = this.clock();
        try {
          await this.poll();
        } catch {
          this.errors++;
        }
        await new Promise((r) => setTimeout(r, Math.max(0, t + pollMs - this.clock())));
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        await done;
      },
    };
  }
}

/** @param {Uint8Array | null} a @param {Uint8Array | null} b */
function same(a, b) {
  if (a === null || b === null) return a === b;
  return Buffer.compare(a, b) === 0;
}

/** One location's KV: the binding's get(key, type) over the mirror, with propagation and cacheTtl. */
export class LocationKv {
  /**
   * @param {KvMirror} mirror
   * @param {() => number} clock
   * @param {{ propagationMs: number, cacheTtlMs: number }} o
   */
  constructor(mirror, clock, { propagationMs, cacheTtlMs }) {
    this.mirror = mirror;
    this.clock = clock;
    this.propagationMs = propagationMs;
    this.cacheTtlMs = cacheTtlMs;
    /** @type {Map<string, { cachedAt: number, bytes: Uint8Array | null }>} */
    this.cache = new Map();
    this.reads = 0;
    this.misses = 0;
  }

  /** The bytes this location answers for `key` now (null: not found), through its read cache. */
  bytesOf(/** @type {string} */ key, ttlMs = this.cacheTtlMs) {
    this.reads++;
    const now = this.clock();
    let entry = this.cache.get(key);
    if (!entry || now - entry.cachedAt >= ttlMs) {
      this.misses++;
      entry = { cachedAt: now, bytes: this.mirror.valueAsOf(key, now - this.propagationMs) };
      this.cache.set(key, entry);
    }
    return entry.bytes;
  }

  /** The KV binding's shape: get(key, "json" | "arrayBuffer" | "text" | { type }). */
  async get(/** @type {string} */ key, /** @type {any} */ type) {
    const kind = typeof type === "string" ? type : (type?.type ?? "text");
    // A read's own cacheTtl (seconds) wins over the location's default, as on Cloudflare.
    const ttlMs =
      typeof type === "object" && typeof type?.cacheTtl === "number" ? type.cacheTtl * 1000 : this.cacheTtlMs;
    const bytes = this.bytesOf(key, ttlMs);
    if (bytes === null) return null;
    if (kind === "json") return JSON.parse(new TextDecoder().decode(bytes));
    if (kind === "arrayBuffer") return bytes.slice().buffer;
    return new TextDecoder().decode(bytes);
  }
}

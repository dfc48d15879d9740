// Workers Cache in front of the RevocationHead entrypoint, as docs/revocation-storage.md describes it
// (https://developers.cloudflare.com/workers/cache/): one cache per location (and, with --upper-tier,
// one upper tier shared by every location):
//   - a response is fresh for its Cache-Control max-age (read from the real head's own header:
//     "public, max-age=1, stale-if-error=0"), counted from when this cache received it, less the
//     Age header it arrived with (RFC 9111 4.2.3; --tier-age ignore drops that, the worst case the doc
//     names: a lower tier then may serve a head up to 2 s old);
//   - a response with no-store / private / no max-age, or not a 200, is never stored (the head's 503
//     is no-store), and nothing is ever served stale (stale-if-error=0);
//   - concurrent misses in one cache are collapsed into one upstream request, whose answer they share.
// Every upstream request is counted: at the origin that is every request reaching the real ledger.

/**
 * @typedef {{ status: number, headers: Record<string, string>, body: string }} Stored
 */

/** @param {string | undefined} header */
function cacheControl(header) {
  const out = { maxAge: 0, noStore: false, private: false };
  for (const part of (header ?? "").split(",")) {
    const [name, value] = part.trim().toLowerCase().split("=");
    if (name === "max-age") out.maxAge = Number(value) || 0;
    if (name === "no-store") out.noStore = true;
    if (name === "private") out.private = true;
  }
  return out;
}

export class HttpCache {
  /**
   * @param {string} name
   * @param {() => Promise<Stored>} upstream
   * @param {() => number} clock
   * @param {{ honourAge: boolean }} o
   */
  constructor(name, upstream, clock, { honourAge }) {
    this.name = name;
    this.upstream = upstream;
    this.clock = clock;
    this.honourAge = honourAge;
    /** @type {{ stored: Stored, receivedAt: number, ageAtReceipt: number, freshUntil: number } | null} */
    this.entry = null;
    /** @type {Promise<Stored> | null} */
    this.inflight = null;
    this.requests = 0;
    this.hits = 0;
    this.collapsed = 0;
    this.upstreamRequests = 0;
  }

  /** @returns {Promise<Stored>} the answer, with an Age header when served from the cache */
  async get() {
    this.requests++;
    const now = this.clock();
    const entry = this.entry;
    if (entry && now < entry.freshUntil) {
      this.hits++;
      const age = entry.ageAtReceipt + Math.floor((now - entry.receivedAt) / 1000);
      return { ...entry.stored, headers: { ...entry.stored.headers, age: String(age) } };
    }
    if (this.inflight) {
      this.collapsed++;
      return this.inflight;
    }
    this.upstreamRequests++;
    const fill = (async () => {
      /** @type {Stored} */
      let stored;
      try {
        stored = await this.upstream();
      } catch (e) {
        stored = { status: 502, headers: { "cache-control": "no-store" }, body: `upstream failed: ${e}` };
      }
      const cc = cacheControl(stored.headers["cache-control"]);
      if (stored.status === 200 && cc.maxAge > 0 && !cc.noStore && !cc.private) {
        const receivedAt = this.clock();
        const ageAtReceipt = this.honourAge ? Number(stored.headers.age ?? 0) || 0 : 0;
        this.entry = {
          stored: { ...stored, headers: { ...stored.headers } },
          receivedAt,
          ageAtReceipt,
          freshUntil: receivedAt + (cc.maxAge - ageAtReceipt) * 1000,
        };
        delete this.entry.stored.headers.age;
      }
      return stored;
    })();
    this.inflight = fill;
    try {
      return await fill;
    } finally {
      this.inflight = null;
    }
  }
}

/**
 * The origin: the real ledger's RevocationHead entrypoint over its direct socket. Every call is a
 * request that reaches the ledger (nothing sits in between: checked at start-up).
 * @param {URL} url
 */
export function originOf(url) {
  const origin = {
    requests: 0,
    failures: 0,
    /** @returns {Promise<Stored>} */
    async fetch() {
      origin.requests++;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        const body = await response.text();
        /** @type {Record<string, string>} */
        const headers = {};
        response.headers.forEach((v, k) => (headers[k] = v));
        if (response.status !== 200) origin.failures++;
        return { status: response.status, headers, body };
      } catch (e) {
        origin.failures++;
        throw e;
      }
    },
  };
  return origin;
}

// The ledger's two outward views of what was revoked: the paged feed (GET /.auth/revocations) and
// the WebSocket stream (GET /.auth/revocations/stream), both admin routes.

const FEED_PAGE = 1000;

/**
 * The whole feed, page by page through `next`, bounded in pages.
 * @param {string} gateway @param {string} adminToken @param {number} expected events expected (bounds the pages)
 * @returns {Promise<Map<number, any>>} events by seq
 */
export async function readFeed(gateway, adminToken, expected) {
  /** @type {Map<number, any>} */
  const events = new Map();
  let since = 0;
  const maxPages = Math.ceil(expected / FEED_PAGE) + 5;
  for (let page = 0; page < maxPages; page++) {
    const res = await fetch(`${gateway}/.auth/revocations?since=${since}&limit=${FEED_PAGE}`, {
      headers: { Authorization: `Bearer ${adminToken}` },
      signal: AbortSignal.timeout(15_000),
    });
    if (res.status !== 200)
      throw new Error(`GET /.auth/revocations answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    const body = /** @type {{ events: any[], next: number | null }} */ (await res.json());
    for (const e of body.events) events.set(e.seq, e);
    if (body.next === null) return events;
    since = body.next;
  }
  throw new Error(`the feed did not end within ${maxPages} pages`);
}

/**
 * Subscribes to the stream from the start (`since=0`) and keeps every seq it pushes.
 * @param {string} gateway @param {string} adminToken
 */
export async function subscribe(gateway, adminToken) {
  const ws = new WebSocket(
    `${gateway.replace(/^http/, "ws")}/.auth/revocations/stream?since=0`,
    /** @type {any} */ ({ headers: { Authorization: `Bearer ${adminToken}` } }),
  );
  /** @type {Set<number>} */
  const seqs = new Set();
  let closedEarly = /** @type {string | null} */ (null);
  let closing = false;
  ws.addEventListener("message", (event) => {
    try {
      const e = JSON.parse(String(event.data));
      if (typeof e.seq === "number") seqs.add(e.seq);
    } catch {
      // "pong" or anything else that is not an event
    }
  });
  ws.addEventListener("close", (event) => {
    if (!closing) closedEarly = `closed by the server (${event.code} ${event.reason})`;
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("stream: no connection within 10 s")), 10_000);
    ws.addEventListener("open", () => (clearTimeout(timer), resolve(undefined)));
    ws.addEventListener("error", () => (clearTimeout(timer), reject(new Error("stream: cannot connect"))));
  });
  return {
    seqs,
    /** Why the stream ended before we closed it, or null. */
    closedEarly: () => closedEarly,
    close() {
      closing = true;
      ws.close();
    },
  };
}

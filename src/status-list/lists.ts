// The status lists this isolate holds, each fetched from its `uri`, verified with its issuer's
// keys and inflated once, then read per request at the cost of a Map lookup and a shift.
//
// Freshness: the list token's `ttl` (else until its `exp`, else the issuer's maxTtlSeconds),
// clamped to the issuer's [minTtlSeconds, maxTtlSeconds] and never past `exp`. Past four fifths of
// it a request refreshes the list in the background (waitUntil) while it still answers from the
// fresh copy, so requests rarely wait for a fetch. A list past its freshness is fetched before
// answering; if that fails, the stale copy serves for STATUS_LIST_STALE_IF_ERROR_SECONDS (never
// past `exp`), and then the request gets 503: a token whose list cannot be read never passes.
//
// The list token's text also goes in the Cache API, so the other isolates of a location load it
// without a fetch (each verifies it itself). One load at a time per list and isolate; a request
// that finds one under way polls this object until it lands, never awaiting another request's
// promise (see src/token/jwks.ts for why).
import { jwtVerify, type JWTPayload } from "jose";
import type { IssuerConfig } from "../config";
import {
  MAX_STATUS_LIST_BYTES,
  MAX_STATUS_LIST_CACHE_BYTES,
  MAX_STATUS_LIST_TOKEN_BYTES,
  MAX_STATUS_LISTS,
  STATUS_LIST_FETCH_TIMEOUT_MS,
  STATUS_LIST_MAX_REDIRECTS,
  STATUS_LIST_STALE_IF_ERROR_SECONDS,
} from "../constants";
import { AuthError } from "../errors";
import { readAtMost } from "../stream";
import { keysOf } from "../token/jwks";
import { toAuthError } from "../token/verify";
import { entriesOf, inflateList, ListInvalid, type StatusList } from "./list";
import { allowedListUrl, type ListRules } from "./reference";

interface Loaded {
  list: StatusList;
  fetchedAtMs: number;
  freshUntilMs: number;
  usableUntilMs: number;
}

/** What /.auth/health shows of a list; never its bits. */
export interface ListStatus {
  uri: string;
  issuer: string;
  bits: number | null;
  entries: number | null;
  bytes: number | null;
  ageSeconds: number | null;
  fresh: boolean;
  fetches: number;
  lastError: string | null;
}

const SHARED_CACHE_ORIGIN = "https://status-lists.edge-jwt-authorizer.internal/";
const LOAD_WATCH_POLL_MS = 10;
const LOAD_WATCH_POLLS = Math.ceil((STATUS_LIST_FETCH_TIMEOUT_MS + 1_000) / LOAD_WATCH_POLL_MS);
/** After a failed load, requests do not fetch the list again for this long (they answer from what is held). */
const RETRY_COOLDOWN_MS = 5_000;

class LoadFailed extends Error {
  override readonly name = "LoadFailed";
}

class ListEntry {
  loaded: Loaded | null = null;
  loadingSinceMs = -Infinity;
  lastAttemptMs = -Infinity;
  lastError: string | null = null;
  fetches = 0;
  constructor(
    readonly uri: string,
    readonly issuer: IssuerConfig,
    readonly rules: ListRules,
  ) {}
}

export class StatusLists {
  private readonly entries = new Map<string, ListEntry>();

  /** The list at `uri` of `issuer`, loading it when this isolate has no fresh copy; 503 when none can be had. */
  async listFor(
    uri: string,
    issuer: IssuerConfig,
    rules: ListRules,
    toleranceSeconds: number,
    waitUntil?: (p: Promise<unknown>) => void,
  ): Promise<StatusList> {
    const entry = this.entryFor(uri, issuer, rules);
    const now = Date.now();
    const held = entry.loaded;
    if (held && now < held.freshUntilMs) {
      const refreshAt = held.fetchedAtMs + (held.freshUntilMs - held.fetchedAtMs) * 0.8;
      if (now >= refreshAt && entry.loadingSinceMs === -Infinity && waitUntil)
        waitUntil(this.refresh(entry, toleranceSeconds, waitUntil));
      return held.list;
    }
    await this.refresh(entry, toleranceSeconds, waitUntil);
    const loaded = entry.loaded;
    if (loaded && Date.now() < loaded.usableUntilMs) return loaded.list;
    throw new AuthError("status_list_unavailable", "The token's status list cannot be fetched right now.");
  }

  status(): ListStatus[] {
    const now = Date.now();
    return [...this.entries.values()].map((e) => ({
      uri: e.uri,
      issuer: e.issuer.issuer,
      bits: e.loaded?.list.bits ?? null,
      entries: e.loaded ? entriesOf(e.loaded.list) : null,
      bytes: e.loaded?.list.bytes.length ?? null,
      ageSeconds: e.loaded ? Math.round((now - e.loaded.fetchedAtMs) / 1000) : null,
      fresh: e.loaded ? now < e.loaded.freshUntilMs : false,
      fetches: e.fetches,
      lastError: e.lastError,
    }));
  }

  private entryFor(uri: string, issuer: IssuerConfig, rules: ListRules): ListEntry {
    const key = `${issuer.issuer}\n${uri}`;
    let entry = this.entries.get(key);
    if (!entry || entry.issuer !== issuer) {
      entry = new ListEntry(uri, issuer, rules);
      this.entries.set(key, entry);
      this.evict();
    }
    return entry;
  }

  /** One load at a time per list; a second caller watches the first one's load land. */
  private async refresh(entry: ListEntry, toleranceSeconds: number, waitUntil?: (p: Promise<unknown>) => void) {
    if (entry.loadingSinceMs !== -Infinity) return this.watchLoad(entry);
    if (entry.lastError !== null && Date.now() - entry.lastAttemptMs < RETRY_COOLDOWN_MS) return;
    const started = (entry.loadingSinceMs = entry.lastAttemptMs = Date.now());
    try {
      entry.loaded = await load(entry, toleranceSeconds, waitUntil);
      entry.lastError = null;
      // Last loaded, last evicted: re-inserted at the end of the Map's order.
      const key = `${entry.issuer.issuer}\n${entry.uri}`;
      this.entries.delete(key);
      this.entries.set(key, entry);
      this.evict();
    } catch (e) {
      entry.lastError = e instanceof LoadFailed || e instanceof ListInvalid ? e.message : "unexpected error";
    } finally {
      if (entry.loadingSinceMs === started) entry.loadingSinceMs = -Infinity;
    }
  }

  private async watchLoad(entry: ListEntry): Promise<void> {
    const started = entry.loadingSinceMs;
    for (let i = 0; i < LOAD_WATCH_POLLS && entry.loadingSinceMs === started; i++)
      await scheduler.wait(LOAD_WATCH_POLL_MS);
    if (entry.loadingSinceMs === started) entry.loadingSinceMs = -Infinity;
  }

  /** Drops the least recently loaded lists while over MAX_STATUS_LISTS or MAX_STATUS_LIST_CACHE_BYTES. */
  private evict(): void {
    let bytes = 0;
    for (const e of this.entries.values()) bytes += e.loaded?.list.bytes.length ?? 0;
    for (const [key, e] of this.entries) {
      if (this.entries.size <= MAX_STATUS_LISTS && bytes <= MAX_STATUS_LIST_CACHE_BYTES) break;
      bytes -= e.loaded?.list.bytes.length ?? 0;
      this.entries.delete(key);
    }
  }
}

async function load(
  entry: ListEntry,
  toleranceSeconds: number,
  waitUntil?: (p: Promise<unknown>) => void,
): Promise<Loaded> {
  const cacheKey = `${SHARED_CACHE_ORIGIN}?issuer=${encodeURIComponent(entry.issuer.issuer)}&uri=${encodeURIComponent(entry.uri)}`;
  const shared = await readShared(cacheKey);
  // Only a copy newer than the one held: a refresh ahead of expiry that found its own copy again
  // would leave every isolate to fetch at once when that copy expires.
  if (shared && shared.fetchedAtMs > (entry.loaded?.fetchedAtMs ?? -Infinity)) {
    const loaded = await verified(shared.text, entry, shared.fetchedAtMs, toleranceSeconds, waitUntil).catch(
      () => null,
    );
    if (loaded && Date.now() < loaded.freshUntilMs) return loaded;
  }
  entry.fetches++;
  const text = await fetchListToken(entry);
  const fetchedAtMs = Date.now();
  const loaded = await verified(text, entry, fetchedAtMs, toleranceSeconds, waitUntil);
  await writeShared(cacheKey, text, fetchedAtMs, Math.ceil((loaded.freshUntilMs - fetchedAtMs) / 1000));
  return loaded;
}

/** The list token verified as the draft's section 8.3 asks, and its list inflated, with its freshness. */
async function verified(
  text: string,
  entry: ListEntry,
  fetchedAtMs: number,
  toleranceSeconds: number,
  waitUntil?: (p: Promise<unknown>) => void,
): Promise<Loaded> {
  const { issuer, rules, uri } = entry;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(text, (header) => keysOf(issuer).keyFor(header, waitUntil), {
      typ: "statuslist+jwt",
      algorithms: issuer.algorithms,
      subject: uri,
      requiredClaims: ["sub", "iat"],
      currentDate: new Date(Date.now()),
      clockTolerance: toleranceSeconds,
    }));
  } catch (e) {
    const why = toAuthError(e);
    throw new LoadFailed(`the list token does not verify (${why.code}: ${why.detail})`);
  }
  if (payload.iss !== undefined && payload.iss !== issuer.issuer)
    throw new LoadFailed("the list token names another issuer");
  const claim = payload.status_list as { bits?: unknown; lst?: unknown } | undefined;
  const list = await inflateList(claim?.bits, claim?.lst, MAX_STATUS_LIST_BYTES);
  const expMs = typeof payload.exp === "number" ? payload.exp * 1000 : Infinity;
  const ttl = typeof payload.ttl === "number" && payload.ttl > 0 ? payload.ttl : (expMs - fetchedAtMs) / 1000;
  const clamped = Math.min(rules.maxTtlSeconds, Math.max(rules.minTtlSeconds, Number.isFinite(ttl) ? ttl : Infinity));
  const freshUntilMs = Math.min(expMs, fetchedAtMs + clamped * 1000);
  return {
    list,
    fetchedAtMs,
    freshUntilMs,
    usableUntilMs: Math.min(expMs, freshUntilMs + STATUS_LIST_STALE_IF_ERROR_SECONDS * 1000),
  };
}

/** GET the list token: bounded in time and bytes, each redirect checked against the issuer's hosts. */
async function fetchListToken(entry: ListEntry): Promise<string> {
  const signal = AbortSignal.timeout(STATUS_LIST_FETCH_TIMEOUT_MS);
  let url = entry.uri;
  for (let hop = 0; hop <= STATUS_LIST_MAX_REDIRECTS; hop++) {
    let response: Response;
    try {
      response = await fetch(url, { signal, redirect: "manual", headers: { Accept: "application/statuslist+jwt" } });
    } catch {
      throw new LoadFailed(signal.aborted ? `timed out after ${STATUS_LIST_FETCH_TIMEOUT_MS} ms` : "unreachable");
    }
    const location = response.headers.get("Location");
    if (response.status >= 300 && response.status < 400 && location !== null) {
      response.body?.cancel().catch(() => {});
      const next = new URL(location, url);
      if (!allowedListUrl(next, entry.issuer, entry.rules))
        throw new LoadFailed("redirected to a host the issuer may not publish status lists on");
      url = next.href;
      continue;
    }
    if (!response.ok) {
      response.body?.cancel().catch(() => {});
      throw new LoadFailed(`answered HTTP ${response.status}`);
    }
    let bytes: Uint8Array | null;
    try {
      bytes = await readAtMost(response.body, MAX_STATUS_LIST_TOKEN_BYTES);
    } catch {
      throw new LoadFailed(signal.aborted ? `timed out after ${STATUS_LIST_FETCH_TIMEOUT_MS} ms` : "body unreadable");
    }
    if (bytes === null) throw new LoadFailed(`the list token is over ${MAX_STATUS_LIST_TOKEN_BYTES} bytes`);
    return new TextDecoder().decode(bytes).trim();
  }
  throw new LoadFailed(`more than ${STATUS_LIST_MAX_REDIRECTS} redirects`);
}

async function readShared(cacheKey: string): Promise<{ text: string; fetchedAtMs: number } | null> {
  try {
    const hit = await caches.default.match(cacheKey);
    if (!hit) return null;
    const fetchedAtMs = Number(hit.headers.get("X-Fetched-At"));
    const text = await hit.text();
    return Number.isFinite(fetchedAtMs) ? { text, fetchedAtMs } : null;
  } catch {
    return null; // the shared copy is an optimisation; without it this isolate fetches
  }
}

async function writeShared(cacheKey: string, text: string, fetchedAtMs: number, ttlSeconds: number): Promise<void> {
  if (ttlSeconds <= 0) return;
  try {
    const headers = { "Cache-Control": `max-age=${ttlSeconds}`, "X-Fetched-At": String(fetchedAtMs) };
    await caches.default.put(cacheKey, new Response(text, { headers }));
  } catch {
    // as above
  }
}

// Deliberate cache: the lists of this isolate, bounded by MAX_STATUS_LISTS and
// MAX_STATUS_LIST_CACHE_BYTES (evict above); entries belong to an issuer's configuration object,
// so a new configuration reloads them.
export const statusLists = new StatusLists();

// An isolate's in-memory view of the active revocations, so that checking a token costs a few
// lookups in a compact index (hashed-index.ts: the snapshot's records searched in place, newer
// entries in a Map) and no read at all. About once per staleness window it refreshes: from the
// ledger's fresh head (fresh-head.ts) when that covers everything after the view, else from KV (one
// tiny `version` read when nothing changed; KV alone while the fresh head fails). Late in the
// window one request refreshes it in the background (waitUntil) while every request keeps answering
// from it; a request that still finds it past the window refreshes it itself. No request ever
// awaits a read another request started: workerd ties I/O to the request that began it, and under
// load (npm run soak) a shared refresh made the requests waiting on it fail with 500s or hang
// whenever the request that started it went away. A failed refresh keeps the last view (to be
// brought up to date when KV answers) and is retried after REFRESH_RETRY_MS; until one succeeds, a
// view older than the window cannot vouch for a token (ensureFresh says so, and the caller asks the
// ledger instead), since a revocation made meanwhile would pass past the bound. A refresh that only
// found a key not yet visible (KV's propagation, which the bound on Cloudflare includes) keeps
// vouching for up to KV_PROPAGATION_MS more, so a compaction's new keys do not send every isolate
// to the ledger while they spread.
//
// Entries are never removed one by one: an expired entry can only match tokens that are themselves
// expired (jti/token) or past MAX_TOKEN_LIFETIME_SECONDS (sub/sid), so keeping it is harmless, and
// every snapshot the ledger writes (one per SEGMENTS_BEFORE_SNAPSHOT x TAIL_MAX_ENTRIES revocations)
// rebuilds the view from the active entries only.
import { FRESH_TIMEOUT_MS, type FetchHead, type FreshHead } from "./fresh-head";
import { entryHash, RevocationIndex, type Probe } from "./hashed-index";
import { HEAD_KEY, recordsKey, segmentKey, snapshotKey, VERSION_KEY, type Head, type WireEntry } from "./kv-layout";
import type { RevocationKind } from "./model";

/**
 * How long a location keeps a KV read (`cacheTtl`): the least Cloudflare allows since 2026-01-30,
 * against a default of 60 s. A write reaches a location once its old copy expires, so the KV-only
 * bound is that much shorter, and a key not visible yet is not taken as missing for as long.
 */
export const KV_CACHE_TTL_SECONDS = 30;

/** After a failed refresh, how long requests keep using the last view before one tries again. */
export const REFRESH_RETRY_MS = 1_000;
/**
 * How long KV may take to show a key everywhere (Cloudflare documents about 60 s), which the
 * contract's bound on Cloudflare already allows for: a view that finds a key its head names not yet
 * visible may vouch that much longer. A failed read gets no such allowance.
 */
export const KV_PROPAGATION_MS = 60_000;
/** From this share of the staleness window on, a request starts the next refresh in the background. */
export const REFRESH_AHEAD_SHARE = 0.8;
/**
 * After the fresh head fails, the view uses KV alone and asks the head again after this, doubling
 * per failure up to FRESH_RETRY_MAX_MS, each time at a random 50-100 % of it: isolates that failed
 * together do not come back together (no retry storm on the ledger).
 */
export const FRESH_RETRY_BASE_MS = 5_000;
export const FRESH_RETRY_MAX_MS = 60_000;

/** One refresh of the view, for the METRICS binding (src/metrics.ts): its status after, how old it was before. */
export interface ViewRefresh extends ViewStatus {
  /** How old the view was when the refresh began (null: never loaded). */
  ageBeforeMs: number | null;
  durationMs: number;
}

export interface ViewStatus {
  seq: number;
  entries: number;
  /** Seconds since the view last matched KV; null before the first load. */
  ageSeconds: number | null;
  kvReads: number;
  lastError: string | null;
  /** How the last refresh brought the view up to date: the fresh head, or KV alone (the wider bound). */
  path: "fresh" | "kv" | null;
  /** Fresh-head reads failed in a row; while non-zero the view is on KV alone. */
  freshFailures: number;
}

class MissingKey extends Error {}

export class RevocationView {
  private index = new RevocationIndex();
  private seq = 0;
  private loaded = false;
  private checkedAtMs = -Infinity;
  private lastAttemptMs = -Infinity;
  private lastError: string | null = null;
  /** The last refresh failed only because a key was not visible yet (KV's propagation). */
  private lagging = false;
  private aheadStartedMs = -Infinity;
  /** The KV snapshot the index was built on (0: none); a newer one rebuilds it, dropping what expired. */
  private snapshotSeq = 0;
  private path: ViewStatus["path"] = null;
  private freshFailures = 0;
  private freshRetryAtMs = -Infinity;
  /** KV reads made by this view, for /.auth/health and the tests that show none per request. */
  kvReads = 0;

  constructor(private readonly kv: KVNamespace) {}

  /**
   * Makes the view at most `stalenessMs` old, reading KV only when it is older; with `waitUntil`,
   * late in the window, starts the next refresh in the background so that requests need not wait.
   * False when KV could not be read and the view is older than that (or was never loaded): it
   * cannot vouch for a token then. A key not visible yet allows KV_PROPAGATION_MS more.
   */
  async ensureFresh(
    stalenessMs: number,
    nowMs: number,
    waitUntil?: (p: Promise<unknown>) => void,
    fetchHead?: FetchHead,
    report?: (refresh: ViewRefresh) => void,
  ): Promise<boolean> {
    const age = nowMs - this.checkedAtMs;
    if (age < stalenessMs) {
      const ahead = stalenessMs * REFRESH_AHEAD_SHARE;
      if (waitUntil && this.loaded && age >= ahead && nowMs - this.aheadStartedMs >= stalenessMs - ahead) {
        this.aheadStartedMs = nowMs;
        waitUntil(this.refreshOnce(nowMs, fetchHead, report));
      }
      return true;
    }
    if (!this.lastError || nowMs - this.lastAttemptMs >= REFRESH_RETRY_MS)
      await this.refreshOnce(nowMs, fetchHead, report);
    const ageNow = nowMs - this.checkedAtMs;
    return this.loaded && (ageNow < stalenessMs || (this.lagging && ageNow < stalenessMs + KV_PROPAGATION_MS));
  }

  private async refreshOnce(nowMs: number, fetchHead?: FetchHead, report?: (r: ViewRefresh) => void): Promise<void> {
    this.lastAttemptMs = nowMs;
    const ageBeforeMs = this.loaded ? nowMs - this.checkedAtMs : null;
    const started = performance.now();
    try {
      await this.refresh(nowMs, fetchHead);
      this.lastError = null;
      this.lagging = false;
    } catch (e) {
      this.lagging = e instanceof MissingKey;
      this.lastError = this.lagging ? "a key named by the head is not visible yet" : "KV read failed";
    }
    report?.({ ...this.status(Date.now()), ageBeforeMs, durationMs: performance.now() - started });
  }

  /** Which kind of revocation denies the token (by its probe, hashed-index.ts), if any. */
  revokedBy(probe: Probe): RevocationKind | null {
    return this.index.revokedBy(probe);
  }

  status(nowMs: number): ViewStatus {
    return {
      seq: this.seq,
      entries: this.index.size,
      ageSeconds: this.loaded ? Math.round((nowMs - this.checkedAtMs) / 1000) : null,
      kvReads: this.kvReads,
      lastError: this.lastError,
      path: this.path,
      freshFailures: this.freshFailures,
    };
  }

  private async get<T>(key: string): Promise<T | null> {
    this.kvReads++;
    return this.kv.get<T>(key, { type: "json", cacheTtl: KV_CACHE_TTL_SECONDS });
  }

  private async getBytes(key: string): Promise<ArrayBuffer | null> {
    this.kvReads++;
    return this.kv.get(key, { type: "arrayBuffer", cacheTtl: KV_CACHE_TTL_SECONDS });
  }

  /**
   * One refresh. With the fresh head at hand and covering everything after this view, it is all that
   * is read (and KV only to rebuild on a newer snapshot, best effort); otherwise KV is read, and the
   * head applied after it when it then covers the rest. Several may run at once (one per request):
   * each only moves the view forward.
   */
  private async refresh(startedAtMs: number, fetchHead?: FetchHead): Promise<void> {
    const fresh = fetchHead ? await this.readFresh(fetchHead, startedAtMs) : null;
    if (fresh && this.loaded && fresh.from <= this.seq) {
      await this.applyFresh(fresh);
      this.checked(startedAtMs);
      // A newer KV snapshot: rebuilding on it only drops what expired, so the view is up to date
      // whether it works or not (KV may not show the snapshot here yet: the next window tries again).
      if (fresh.snapshotSeq > this.snapshotSeq) await this.rebuildQuietly(fresh);
      return;
    }
    await this.refreshFromKv(fresh);
    const covered = fresh !== null && fresh.from <= this.seq;
    if (covered) await this.applyFresh(fresh);
    this.path = covered ? "fresh" : "kv";
    this.checked(startedAtMs);
  }

  private async rebuildQuietly(fresh: FreshHead): Promise<void> {
    try {
      await this.refreshFromKv(fresh);
      await this.applyFresh(fresh);
    } catch {
      // the snapshot is not visible here yet, or KV failed: the view stays as the head left it
    }
  }

  /** The head, or null when it cannot be had in time; failures back off (FRESH_RETRY_BASE_MS). */
  private async readFresh(fetchHead: FetchHead, nowMs: number): Promise<FreshHead | null> {
    if (nowMs < this.freshRetryAtMs) return null;
    try {
      const head = await Promise.race([
        fetchHead(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), FRESH_TIMEOUT_MS)),
      ]);
      this.freshFailures = 0;
      return head;
    } catch {
      this.freshFailures++;
      const backoff = Math.min(FRESH_RETRY_MAX_MS, FRESH_RETRY_BASE_MS * 2 ** (this.freshFailures - 1));
      this.freshRetryAtMs = nowMs + backoff * (0.5 + Math.random() / 2);
      this.path = "kv";
      return null;
    }
  }

  private async applyFresh(head: FreshHead): Promise<void> {
    await apply(this.index, head.entries, this.seq);
    this.seq = Math.max(this.seq, head.seq);
    this.path = "fresh";
  }

  /**
   * One read of KV into the view: the version, then (when it moved, or a newer snapshot is named)
   * the head and what it names. A newer snapshot rebuilds the index off to the side; it is swapped in
   * unless it would lose entries this view already has that `fresh` does not bring back.
   */
  private async refreshFromKv(fresh: FreshHead | null): Promise<void> {
    const version = (await this.get<number>(VERSION_KEY)) ?? 0;
    if (this.loaded && version <= this.seq && (fresh?.snapshotSeq ?? 0) <= this.snapshotSeq) return;
    const head = version === 0 ? null : await this.get<Head>(HEAD_KEY);
    if (!head) {
      if (version !== 0) throw new MissingKey();
      this.loaded = true;
      return;
    }
    if (!this.loaded || (head.snapshot && head.snapshot.seq > this.snapshotSeq)) {
      const { index, after } = await this.fromSnapshot(head);
      const rest = await this.segmentsAfter(head, after);
      if (head.seq < this.seq && !(fresh && fresh.from <= head.seq)) return;
      for (const entries of rest) await apply(index, entries, after);
      await apply(index, head.tail, after);
      this.index = index;
      this.snapshotSeq = head.snapshot?.seq ?? 0;
      this.seq = head.seq;
    } else if (head.seq > this.seq) {
      // Entries apply in place and in any order (an entry only ever raises a value's time).
      const from = this.seq;
      const rest = await this.segmentsAfter(head, from);
      for (const entries of rest) await apply(this.index, entries, from);
      await apply(this.index, head.tail, from);
      this.seq = Math.max(head.seq, this.seq);
    }
    this.loaded = true;
  }

  /** A new index from the head's snapshot, and the seq it holds everything up to. */
  private async fromSnapshot(head: Head): Promise<{ index: RevocationIndex; after: number }> {
    if (!head.snapshot) return { index: new RevocationIndex(), after: 0 };
    if (head.snapshot.records) {
      // Kept as read: no parse, no copy. A cold isolate's whole cost is these reads.
      const chunks: ArrayBuffer[] = [];
      for (let i = 0; i < head.snapshot.chunks; i++) {
        const chunk = await this.getBytes(recordsKey(head.snapshot.seq, i));
        if (!chunk) throw new MissingKey();
        chunks.push(chunk);
      }
      return { index: new RevocationIndex(chunks), after: head.snapshot.seq };
    }
    // A snapshot of JSON entries, written before the records existed (until the next one).
    const index = new RevocationIndex();
    for (let i = 0; i < head.snapshot.chunks; i++) {
      const chunk = await this.get<WireEntry[]>(snapshotKey(head.snapshot.seq, i));
      if (!chunk) throw new MissingKey();
      await apply(index, chunk, 0);
    }
    return { index, after: head.snapshot.seq };
  }

  private async segmentsAfter(head: Head, after: number): Promise<WireEntry[][]> {
    const out: WireEntry[][] = [];
    for (const segment of head.segments) {
      if (segment.to <= after) continue;
      const entries = await this.get<WireEntry[]>(segmentKey(segment.from, segment.to));
      if (!entries) throw new MissingKey();
      out.push(entries);
    }
    return out;
  }

  private checked(startedAtMs: number): void {
    this.checkedAtMs = Math.max(this.checkedAtMs, startedAtMs);
  }
}

/** Adds the entries after `after`, hashing those written before entries carried their hash. */
async function apply(index: RevocationIndex, entries: readonly WireEntry[], after: number): Promise<void> {
  for (const [seq, kind, iss, value, at, , h] of entries) {
    if (seq <= after) continue;
    index.add(h ?? (await entryHash(kind, iss, value)), at);
  }
}

// Deliberate cache: one view per KV namespace binding, i.e. one per isolate in production. Its size
// is bounded by the active revocations (see docs/revocation-storage.md for the measured cost).
const views = new WeakMap<KVNamespace, RevocationView>();

export function viewOf(kv: KVNamespace): RevocationView {
  let view = views.get(kv);
  if (!view) views.set(kv, (view = new RevocationView(kv)));
  return view;
}

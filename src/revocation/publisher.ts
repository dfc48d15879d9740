// Writes the ledger's state to the KV read model (layout in kv-layout.ts), from the outbox. Called
// after each revoke and by the alarm until the outbox is empty, so a KV failure delays publication
// but never loses an entry: the outbox rows are cleared only after the version key is written.
import { encodeRecords, entryHash, RECORD_BYTES } from "./hashed-index";
import {
  HEAD_KEY,
  MAX_VALUE_BYTES,
  piecesOf,
  recordsKey,
  SEGMENTS_BEFORE_SNAPSHOT,
  segmentKey,
  snapshotKey,
  TAIL_MAX_ENTRIES,
  VERSION_KEY,
  type Head,
} from "./kv-layout";
import {
  clearOutbox,
  getMeta,
  hashesByHash,
  lastSeq,
  missingHashes,
  pendingOutbox,
  setHash,
  setMeta,
  wireEntries,
} from "./store";

interface Published {
  snapshot: Head["snapshot"];
  segments: Head["segments"];
  /** Entries after this seq are in no segment yet (the head's tail). */
  tailFrom: number;
}

const PUBLISHED = "published";

/**
 * Publishes everything up to the newest seq; returns that seq, or null when nothing was pending.
 * `maxValueBytes` bounds each segment and snapshot chunk (smaller in tests).
 */
export async function publish(
  sql: SqlStorage,
  kv: KVNamespace,
  maxValueBytes = MAX_VALUE_BYTES,
): Promise<number | null> {
  if (pendingOutbox(sql).length === 0) return null;
  const hashed = await fillHashes(sql);
  const state = getMeta<Published>(sql, PUBLISHED) ?? { snapshot: null, segments: [], tailFrom: 0 };
  const upTo = lastSeq(sql);
  let { snapshot, segments, tailFrom } = state;
  let tail = wireEntries(sql, tailFrom, upTo);
  const obsolete: string[] = [];

  let compact = false;
  if (tail.length > TAIL_MAX_ENTRIES) {
    // Usually one segment; a backlog (KV was down) may take several, or go straight to a snapshot.
    const pieces = piecesOf(tail, maxValueBytes);
    // No snapshot while rows lack their hash (see fillHashes): segments meanwhile, past 64 if need be.
    compact = hashed && segments.length + pieces.length > SEGMENTS_BEFORE_SNAPSHOT;
    if (!compact) {
      let from = tailFrom + 1;
      for (const [i, piece] of pieces.entries()) {
        const to = i === pieces.length - 1 ? upTo : piece[piece.length - 1]![0];
        await kv.put(segmentKey(from, to), JSON.stringify(piece));
        segments = [...segments, { from, to }];
        from = to + 1;
      }
    }
    tailFrom = upTo;
    tail = [];
  }
  if (hashed && (compact || segments.length > SEGMENTS_BEFORE_SNAPSHOT || (snapshot !== null && !snapshot.records))) {
    const pieces = recordChunks(sql, upTo, maxValueBytes);
    const chunks = pieces.length;
    for (let i = 0; i < chunks; i++) await kv.put(recordsKey(upTo, i), pieces[i]!);
    for (const s of segments) obsolete.push(segmentKey(s.from, s.to));
    if (snapshot)
      for (let i = 0; i < snapshot.chunks; i++)
        obsolete.push(snapshot.records ? recordsKey(snapshot.seq, i) : snapshotKey(snapshot.seq, i));
    snapshot = { seq: upTo, chunks, records: true };
    segments = [];
    tailFrom = upTo;
  }

  const head: Head = { seq: upTo, snapshot, segments, tail };
  await kv.put(HEAD_KEY, JSON.stringify(head));
  await kv.put(VERSION_KEY, String(upTo));
  setMeta(sql, PUBLISHED, { snapshot, segments, tailFrom } satisfies Published);
  clearOutbox(sql, upTo);
  // Readers that still follow the old head find these gone and reload from the new snapshot.
  await Promise.all(obsolete.map((key) => kv.delete(key).catch(() => {})));
  return upTo;
}

/** Rows are filled with their hash in batches this size, at most HASH_FILL_PER_PUBLISH per publication. */
const HASH_BATCH = 1_000;
/**
 * About 2 s of the ledger's CPU (measured: ~23 µs a row in workerd): rows written before the hash
 * column existed, up to a million, are hashed over several publications rather than in one that
 * could pass a Durable Object's CPU limit.
 */
const HASH_FILL_PER_PUBLISH = 100_000;

/** Fills in the hash of rows that lack one (rows from before hashes were stored); true when none is left. */
async function fillHashes(sql: SqlStorage): Promise<boolean> {
  for (let filled = 0; filled < HASH_FILL_PER_PUBLISH; filled += HASH_BATCH) {
    const rows = missingHashes(sql, HASH_BATCH);
    if (rows.length === 0) return true;
    const hashes = await Promise.all(rows.map((r) => entryHash(r.kind, r.iss, r.value)));
    rows.forEach((r, i) => setHash(sql, r.seq, hashes[i]!));
  }
  return missingHashes(sql, 1).length === 0;
}

/** Every active entry up to `upTo` as sorted records, in chunks of at most `maxValueBytes`. */
function recordChunks(sql: SqlStorage, upTo: number, maxValueBytes: number): Uint8Array[] {
  const { count, rows } = hashesByHash(sql, upTo);
  const all = encodeRecords(rows, count);
  const per = Math.max(1, Math.floor(maxValueBytes / RECORD_BYTES)) * RECORD_BYTES;
  const chunks: Uint8Array[] = [];
  for (let o = 0; o < all.byteLength; o += per) chunks.push(all.slice(o, o + per));
  return chunks;
}

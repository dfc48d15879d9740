// Writes the ledger's state to the KV read model (layout in kv-layout.ts), from the outbox. Called
// after each revoke and by the alarm until the outbox is empty, so a KV failure delays publication
// but never loses an entry: the outbox rows are cleared only after the version key is written.
import {
  HEAD_KEY, MAX_VALUE_BYTES, piecesOf, SEGMENTS_BEFORE_SNAPSHOT, segmentKey, SNAPSHOT_CHUNK_ENTRIES, snapshotKey, TAIL_MAX_ENTRIES,
  VERSION_KEY, type Head,
} from "./kv-layout";
import { clearOutbox, getMeta, lastSeq, pendingOutbox, setMeta, wireEntries } from "./store";

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
export async function publish(sql: SqlStorage, kv: KVNamespace, maxValueBytes = MAX_VALUE_BYTES): Promise<number | null> {
  if (pendingOutbox(sql).length === 0) return null;
  const state = getMeta<Published>(sql, PUBLISHED) ?? { snapshot: null, segments: [], tailFrom: 0 };
  const upTo = lastSeq(sql);
  let { snapshot, segments, tailFrom } = state;
  let tail = wireEntries(sql, tailFrom, upTo);
  const obsolete: string[] = [];

  let compact = false;
  if (tail.length > TAIL_MAX_ENTRIES) {
    // Usually one segment; a backlog (KV was down) may take several, or go straight to a snapshot.
    const pieces = piecesOf(tail, Infinity, maxValueBytes);
    compact = segments.length + pieces.length > SEGMENTS_BEFORE_SNAPSHOT;
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
  if (compact || segments.length > SEGMENTS_BEFORE_SNAPSHOT) {
    const pieces = piecesOf(wireEntries(sql, 0, upTo), SNAPSHOT_CHUNK_ENTRIES, maxValueBytes);
    const chunks = pieces.length;
    for (let i = 0; i < chunks; i++) await kv.put(snapshotKey(upTo, i), JSON.stringify(pieces[i]));
    for (const s of segments) obsolete.push(segmentKey(s.from, s.to));
    if (snapshot) for (let i = 0; i < snapshot.chunks; i++) obsolete.push(snapshotKey(snapshot.seq, i));
    snapshot = { seq: upTo, chunks };
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

// Writes the ledger's state to the KV read model (layout in kv-layout.ts), from the outbox. Called
// after each revoke and by the alarm until the outbox is empty, so a KV failure delays publication
// but never loses an entry: the outbox rows are cleared only after the version key is written.
import {
  HEAD_KEY, SEGMENTS_BEFORE_SNAPSHOT, segmentKey, SNAPSHOT_CHUNK_ENTRIES, snapshotKey, TAIL_MAX_ENTRIES, VERSION_KEY,
  type Head,
} from "./kv-layout";
import { clearOutbox, getMeta, lastSeq, pendingOutbox, setMeta, wireEntries } from "./store";

interface Published {
  snapshot: Head["snapshot"];
  segments: Head["segments"];
  /** Entries after this seq are in no segment yet (the head's tail). */
  tailFrom: number;
}

const PUBLISHED = "published";

/** Publishes everything up to the newest seq; returns that seq, or null when nothing was pending. */
export async function publish(sql: SqlStorage, kv: KVNamespace): Promise<number | null> {
  if (pendingOutbox(sql).length === 0) return null;
  const state = getMeta<Published>(sql, PUBLISHED) ?? { snapshot: null, segments: [], tailFrom: 0 };
  const upTo = lastSeq(sql);
  let { snapshot, segments, tailFrom } = state;
  let tail = wireEntries(sql, tailFrom, upTo);
  const obsolete: string[] = [];

  if (tail.length > TAIL_MAX_ENTRIES) {
    await kv.put(segmentKey(tailFrom + 1, upTo), JSON.stringify(tail));
    segments = [...segments, { from: tailFrom + 1, to: upTo }];
    tailFrom = upTo;
    tail = [];
  }
  if (segments.length > SEGMENTS_BEFORE_SNAPSHOT) {
    const all = wireEntries(sql, 0, upTo);
    const chunks = Math.ceil(all.length / SNAPSHOT_CHUNK_ENTRIES);
    for (let i = 0; i < chunks; i++) {
      await kv.put(snapshotKey(upTo, i), JSON.stringify(all.slice(i * SNAPSHOT_CHUNK_ENTRIES, (i + 1) * SNAPSHOT_CHUNK_ENTRIES)));
    }
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

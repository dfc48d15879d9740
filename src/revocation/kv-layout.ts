// The KV read model's layout, shared by its one writer (the ledger) and its readers (every isolate).
// See docs/revocation-storage.md for the design and its limits.
//
//   revocations/version          the highest seq the other keys hold (tiny; read every staleness window)
//   revocations/head             { seq, snapshot, segments, tail }: the newest entries inline (tail),
//                                the sealed segments since the snapshot, and which snapshot to start from
//   revocations/segment/<a>-<b>  entries with seq in [a, b], immutable once written
//   revocations/records/<s>/<i>  chunk i of every active entry as of seq s, as sorted 12-byte records
//                                (hashed-index.ts), immutable once written; revocations/snapshot/<s>/<i>
//                                the same as JSON entries, from before the records existed
//
// Immutable keys are written before the head that names them, and the head before the version, so a
// reader that sees a version can find everything it needs (or, under KV's eventual consistency, finds
// a key missing, keeps its view and tries again at the next refresh).
import type { Revocation, RevocationKind } from "./model";

export const VERSION_KEY = "revocations/version";
export const HEAD_KEY = "revocations/head";
export const segmentKey = (from: number, to: number) => `revocations/segment/${from}-${to}`;
export const snapshotKey = (seq: number, chunk: number) => `revocations/snapshot/${seq}/${chunk}`;
export const recordsKey = (seq: number, chunk: number) => `revocations/records/${seq}/${chunk}`;

/** Entries kept inline in the head before they are sealed into a segment. */
export const TAIL_MAX_ENTRIES = 256;
/** Segments listed in the head before the writer compacts everything into a new snapshot. */
export const SEGMENTS_BEFORE_SNAPSHOT = 64;
/**
 * The most a segment (JSON) or a snapshot chunk (records) holds, in bytes. A KV value may hold 25 MiB,
 * but entries may be 30 times the typical size (2 KiB issuers, 1 KiB values): counted in entries
 * alone, the segment that seals a long KV outage's backlog would not fit, and every retry would fail
 * the same way. A chunk of records holds 699 050 entries.
 */
export const MAX_VALUE_BYTES = 8 * 1024 * 1024;

/**
 * One entry on the wire: [seq, kind, iss ("" for any), value, at, expiresAt, hash]. The hash (see
 * hashed-index.ts) is absent from entries written before it existed; a reader computes it then.
 */
export type WireEntry = [number, RevocationKind, string, string, number, number, string?];

export interface Head {
  seq: number;
  /** `records`: the chunks are records under recordsKey; without it, JSON entries under snapshotKey. */
  snapshot: { seq: number; chunks: number; records?: true } | null;
  /** Sealed segments after the snapshot, oldest first. */
  segments: { from: number; to: number }[];
  /** Entries after the last segment. */
  tail: WireEntry[];
}

export function toWire(seq: number, r: Revocation, h?: string | null): WireEntry {
  const entry: WireEntry = [seq, r.kind, r.iss ?? "", r.value, r.at, r.expiresAt];
  if (h) entry.push(h);
  return entry;
}

/** Consecutive runs of entries, each at most `maxBytes` as a JSON array (a segment each). */
export function piecesOf(entries: readonly WireEntry[], maxBytes: number): WireEntry[][] {
  const encoder = new TextEncoder();
  const pieces: WireEntry[][] = [];
  let piece: WireEntry[] = [];
  let bytes = 2; // "[]"
  for (const entry of entries) {
    const size = encoder.encode(JSON.stringify(entry)).length + 1; // and its comma
    if (piece.length > 0 && bytes + size > maxBytes) {
      pieces.push(piece);
      piece = [];
      bytes = 2;
    }
    piece.push(entry);
    bytes += size;
  }
  if (piece.length > 0) pieces.push(piece);
  return pieces;
}

/**
 * The fresh head (fresh-head.ts), the ledger's newest entries as an isolate reads them between KV's
 * publications: every active entry with a seq above `from` is in `entries` (with its hash).
 */
export interface FreshHead {
  /** The highest seq the ledger has handed out. */
  seq: number;
  from: number;
  entries: WireEntry[];
  /** The seq of the snapshot KV holds (0 without one): a view built on an older one may rebuild. */
  snapshotSeq: number;
}

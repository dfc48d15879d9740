// The KV read model's layout, shared by its one writer (the ledger) and its readers (every isolate).
// See docs/revocation-storage.md for the design and its limits.
//
//   revocations/version          the highest seq the other keys hold (tiny; read every staleness window)
//   revocations/head             { seq, snapshot, segments, tail }: the newest entries inline (tail),
//                                the sealed segments since the snapshot, and which snapshot to start from
//   revocations/segment/<a>-<b>  entries with seq in [a, b], immutable once written
//   revocations/snapshot/<s>/<i> chunk i of every active entry as of seq s, immutable once written
//
// Immutable keys are written before the head that names them, and the head before the version, so a
// reader that sees a version can find everything it needs (or, under KV's eventual consistency, finds
// a key missing, keeps its view and tries again at the next refresh).
import type { Revocation, RevocationKind } from "./model";

export const VERSION_KEY = "revocations/version";
export const HEAD_KEY = "revocations/head";
export const segmentKey = (from: number, to: number) => `revocations/segment/${from}-${to}`;
export const snapshotKey = (seq: number, chunk: number) => `revocations/snapshot/${seq}/${chunk}`;

/** Entries kept inline in the head before they are sealed into a segment. */
export const TAIL_MAX_ENTRIES = 256;
/** Segments listed in the head before the writer compacts everything into a new snapshot. */
export const SEGMENTS_BEFORE_SNAPSHOT = 64;
/** Entries per snapshot chunk (about 2 MB of JSON; a KV value may hold 25 MiB). */
export const SNAPSHOT_CHUNK_ENTRIES = 20_000;

/** One entry on the wire: [seq, kind, iss ("" for any), value, at, expiresAt]. */
export type WireEntry = [number, RevocationKind, string, string, number, number];

export interface Head {
  seq: number;
  snapshot: { seq: number; chunks: number } | null;
  /** Sealed segments after the snapshot, oldest first. */
  segments: { from: number; to: number }[];
  /** Entries after the last segment. */
  tail: WireEntry[];
}

export function toWire(seq: number, r: Revocation): WireEntry {
  return [seq, r.kind, r.iss ?? "", r.value, r.at, r.expiresAt];
}

// The ledger's SQLite tables and every query on them. Synchronous (Durable Object SQLite), so each
// function is atomic with respect to the others: a revoke's insert and its outbox row land together.
import { toWire, type WireEntry } from "./kv-layout";
import { denies, type Revocation, type RevocationEvent, type TokenFacts } from "./model";

export function migrate(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS revocations (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      kind TEXT NOT NULL,
      iss TEXT NOT NULL,
      value TEXT NOT NULL,
      at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      revoked_at INTEGER NOT NULL,
      UNIQUE (kind, iss, value)
    );
    CREATE INDEX IF NOT EXISTS revocations_by_expiry ON revocations (expires_at);
    CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY);
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `);
  // Who asked for an entry, when a token's holder did (POST /.auth/logout): its issuer and subject,
  // so self-service entries can be counted per subject and in all (the ledger's quotas). Null for
  // the admin's and the identity provider's revocations. Added to tables made before it existed.
  const columns = sql.exec<{ name: string }>("PRAGMA table_info(revocations)").toArray();
  if (!columns.some((c) => c.name === "self_subject")) sql.exec("ALTER TABLE revocations ADD COLUMN self_subject TEXT");
  sql.exec(
    "CREATE INDEX IF NOT EXISTS revocations_by_self_subject ON revocations (self_subject) WHERE self_subject IS NOT NULL",
  );
  // The entry's hash as the edge looks it up (hashed-index.ts), so a snapshot is a sorted read.
  // Null on rows from before it existed, until the publisher fills them in (missingHashes).
  if (!columns.some((c) => c.name === "h")) sql.exec("ALTER TABLE revocations ADD COLUMN h TEXT");
  sql.exec("CREATE INDEX IF NOT EXISTS revocations_by_h ON revocations (h)");
}

interface Row extends Record<string, SqlStorageValue> {
  seq: number;
  kind: string;
  iss: string;
  value: string;
  at: number;
  expires_at: number;
  revoked_at: number;
  self_subject: string | null;
  h: string | null;
}

function toEvent(row: Row): RevocationEvent {
  return {
    seq: row.seq,
    at: row.revoked_at,
    revocation: {
      kind: row.kind as Revocation["kind"],
      value: row.value,
      iss: row.iss === "" ? null : row.iss,
      at: row.at,
      expiresAt: row.expires_at,
    },
  };
}

export function activeCount(sql: SqlStorage): number {
  return sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM revocations").one().n;
}

/** Active entries that tokens' holders made for themselves: all of them, or one subject's. */
export function selfServiceCount(sql: SqlStorage, selfSubject?: string): number {
  return selfSubject === undefined
    ? sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM revocations WHERE self_subject IS NOT NULL").one().n
    : sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM revocations WHERE self_subject = ?", selfSubject).one().n;
}

export interface Recorded {
  event: RevocationEvent;
  /** True when the same thing was already revoked and nothing changed. */
  duplicate: boolean;
  /** True when a new key was added (not a duplicate, not a sub/sid moved forward). */
  added: boolean;
  /** Self-service entries: +1 for one added, -1 for one a move replaced with another's, else 0. */
  selfServiceDelta: number;
}

/**
 * Records a revocation once. The same jti/token again is the same entry. The same sub/sid revoked
 * again later moves its `at` forward, as a new entry with a new seq (the old one is superseded), so
 * that tokens issued between the two revocations are denied too. With `mayAdd` false, a revocation
 * that would add a new key is refused (null); duplicates and moves are still answered.
 */
export function record(
  sql: SqlStorage,
  r: Revocation,
  nowSec: number,
  mayAdd = true,
  selfSubject: string | null = null,
  h: string | null = null,
): Recorded | null {
  const iss = r.iss ?? "";
  const existing = sql
    .exec<Row>("SELECT * FROM revocations WHERE kind = ? AND iss = ? AND value = ?", r.kind, iss, r.value)
    .toArray()[0];
  if (existing) {
    const later = (r.kind === "sub" || r.kind === "sid" || r.kind === "email") && r.at > existing.at;
    if (!later) {
      if (r.expiresAt > existing.expires_at) {
        sql.exec("UPDATE revocations SET expires_at = ? WHERE seq = ?", r.expiresAt, existing.seq);
        existing.expires_at = r.expiresAt;
      }
      return { event: toEvent(existing), duplicate: true, added: false, selfServiceDelta: 0 };
    }
    sql.exec("DELETE FROM revocations WHERE seq = ?", existing.seq);
  } else if (!mayAdd) {
    return null;
  }
  const row = sql
    .exec<Row>(
      "INSERT INTO revocations (kind, iss, value, at, expires_at, revoked_at, self_subject, h) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
      r.kind,
      iss,
      r.value,
      r.at,
      r.expiresAt,
      nowSec,
      selfSubject,
      h,
    )
    .one();
  sql.exec("INSERT INTO outbox (seq) VALUES (?)", row.seq);
  const selfServiceDelta = (selfSubject === null ? 0 : 1) - (existing?.self_subject == null ? 0 : 1);
  return { event: toEvent(row), duplicate: false, added: existing === undefined, selfServiceDelta };
}

/** The highest seq ever handed out (superseded and pruned entries included), 0 when none. */
export function lastSeq(sql: SqlStorage): number {
  const row = sql.exec<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'revocations'").toArray()[0];
  return row?.seq ?? 0;
}

export function feed(sql: SqlStorage, since: number, limit: number): RevocationEvent[] {
  return sql
    .exec<Row>("SELECT * FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?", since, limit)
    .toArray()
    .map(toEvent);
}

/** Entries with seq in (after, upTo], on the wire. */
export function wireEntries(sql: SqlStorage, after: number, upTo: number): WireEntry[] {
  return sql
    .exec<Row>("SELECT * FROM revocations WHERE seq > ? AND seq <= ? ORDER BY seq", after, upTo)
    .toArray()
    .map((row) => toWire(row.seq, toEvent(row).revocation, row.h));
}

/** Rows whose hash is not filled in yet (written before the column existed), at most `limit`. */
export function missingHashes(
  sql: SqlStorage,
  limit: number,
): { seq: number; kind: Revocation["kind"]; iss: string; value: string }[] {
  return sql
    .exec<Row>("SELECT seq, kind, iss, value FROM revocations WHERE h IS NULL LIMIT ?", limit)
    .toArray()
    .map((r) => ({ seq: r.seq, kind: r.kind as Revocation["kind"], iss: r.iss, value: r.value }));
}

export function setHash(sql: SqlStorage, seq: number, h: string): void {
  sql.exec("UPDATE revocations SET h = ? WHERE seq = ?", h, seq);
}

/** Every active entry's (hash, at), sorted by hash, one row at a time (a million fit no array). */
export function hashesByHash(
  sql: SqlStorage,
  upTo: number,
): { count: number; rows: Iterable<{ h: string; at: number }> } {
  const count = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM revocations WHERE seq <= ?", upTo).one().n;
  return {
    count,
    rows: sql.exec<{ h: string; at: number }>("SELECT h, at FROM revocations WHERE seq <= ? ORDER BY h", upTo),
  };
}

/**
 * The entries recorded since `sinceSec` (at most `max`, the newest), and `from`: every active entry
 * with a seq above it is among them. Seqs grow with time (a sub/sid moved forward gets a new one), so
 * the newest entries by seq are the recent ones.
 */
export function newest(sql: SqlStorage, sinceSec: number, max: number): { from: number; entries: WireEntry[] } {
  const rows = sql
    .exec<Row>("SELECT * FROM revocations WHERE revoked_at >= ? ORDER BY seq DESC LIMIT ?", sinceSec, max + 1)
    .toArray();
  const kept = rows.slice(0, max).reverse();
  const from =
    rows.length > max
      ? kept[0]!.seq - 1 // capped: what is older than the oldest kept is left to KV
      : (sql.exec<{ s: number | null }>("SELECT MAX(seq) AS s FROM revocations WHERE revoked_at < ?", sinceSec).one()
          .s ?? 0);
  return { from, entries: kept.map((row) => toWire(row.seq, toEvent(row).revocation, row.h)) };
}

export function pendingOutbox(sql: SqlStorage): number[] {
  return sql
    .exec<{ seq: number }>("SELECT seq FROM outbox ORDER BY seq")
    .toArray()
    .map((r) => r.seq);
}

export function clearOutbox(sql: SqlStorage, upTo: number): void {
  sql.exec("DELETE FROM outbox WHERE seq <= ?", upTo);
}

/** Drops entries that no valid token can match any more; returns how many. */
export function prune(sql: SqlStorage, nowSec: number): number {
  return sql.exec("DELETE FROM revocations WHERE expires_at < ?", nowSec).rowsWritten;
}

export function nextExpiry(sql: SqlStorage): number | null {
  const row = sql.exec<{ e: number | null }>("SELECT MIN(expires_at) AS e FROM revocations").one();
  return row.e;
}

/** The strict check: the ledger's own answer, at once. */
export function revokedBy(sql: SqlStorage, facts: TokenFacts, nowSec: number): Revocation["kind"] | null {
  const rows = sql
    .exec<Row>(
      `SELECT * FROM revocations WHERE iss IN (?, '') AND expires_at >= ? AND (
         (kind = 'jti' AND value = ?) OR (kind = 'token' AND value = ?) OR (kind = 'sub' AND value = ?) OR (kind = 'sid' AND value = ?) OR (kind = 'email' AND value = ?))`,
      facts.iss,
      nowSec,
      facts.jti ?? null,
      facts.jti === undefined ? (facts.tokenSha256 ?? null) : null,
      facts.sub ?? null,
      facts.sid ?? null,
      facts.email ?? null,
    )
    .toArray();
  const hit = rows.find((row) => denies(row.kind as Revocation["kind"], row.at, facts.iat));
  return hit ? (hit.kind as Revocation["kind"]) : null;
}

export function getMeta<T>(sql: SqlStorage, key: string): T | null {
  const row = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
  return row ? (JSON.parse(row.value) as T) : null;
}

export function setMeta(sql: SqlStorage, key: string, value: unknown): void {
  sql.exec(
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    key,
    JSON.stringify(value),
  );
}

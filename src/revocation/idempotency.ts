// Idempotency-Key for POST /.auth/revoke (draft-ietf-httpapi-idempotency-key-header). Revoking a
// sub or sid again later moves it forward on purpose, so a client's retry of a "log out everywhere"
// would deny tokens issued after the first attempt landed. The ledger therefore remembers, per key,
// the request's fingerprint and the event it answered, and answers a repeat with that same event.
// Rows live IDEMPOTENCY_KEY_TTL_SECONDS and at most MAX_IDEMPOTENCY_KEYS are kept (oldest first out).
// A row holds no request data beyond the key (the repeat, having the same fingerprint, brings the
// rest), so each is under 400 bytes and the table under 40 MB. Synchronous SQLite, like store.ts.
import { IDEMPOTENCY_KEY_TTL_SECONDS, MAX_IDEMPOTENCY_KEYS } from "../constants";
import { sha256Hex } from "../crypto";
import { signingInput } from "../token/verify";
import type { Revocation, RevocationEvent, RevokeBody } from "./model";

/** What a keyed revoke asks the ledger to hold it to. */
export interface IdempotencyClaim {
  key: string;
  /** SHA-256 (hex) of the canonical request: the same body, however it was spelled, gives the same. */
  fingerprint: string;
}

/** The first answer's numbers, as they were then (a later move or expiry extension does not show). */
export interface Remembered {
  fingerprint: string;
  seq: number;
  at: number;
  expiresAt: number;
  revokedAt: number;
}

/**
 * The request as a fixed-order array, so that member order, whitespace and an absent optional `iss`
 * do not change the fingerprint; the time of the request is deliberately left out.
 */
function canonical(body: RevokeBody): unknown[] {
  if ("jti" in body) return ["jti", body.jti, body.exp, body.iss ?? null];
  if ("token" in body) return ["token", signingInput(body.token)];
  if ("sub" in body) return ["sub", body.sub, body.iss ?? null];
  return ["sid", body.sid, body.iss ?? null];
}

export function fingerprintOf(body: RevokeBody): Promise<string> {
  return sha256Hex(JSON.stringify(canonical(body)));
}

/**
 * The first answer again. Only for a request with the remembered fingerprint: the same body, so
 * the same kind, value and issuer as `revocation`, which was derived from it.
 */
export function replay(seen: Remembered, revocation: Revocation): RevocationEvent {
  const { kind, value, iss } = revocation;
  return {
    seq: seen.seq,
    at: seen.revokedAt,
    revocation: { kind, value, iss, at: seen.at, expiresAt: seen.expiresAt },
  };
}

export function migrate(sql: SqlStorage): void {
  // `n` orders rows by arrival, so the oldest beyond the cap go with one range delete.
  sql.exec(`
    CREATE TABLE IF NOT EXISTS idempotency_keys (
      n INTEGER PRIMARY KEY AUTOINCREMENT,
      key TEXT NOT NULL UNIQUE,
      fingerprint TEXT NOT NULL,
      seq INTEGER NOT NULL,
      at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      revoked_at INTEGER NOT NULL,
      forget_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS idempotency_keys_by_forget_at ON idempotency_keys (forget_at);
  `);
}

/** The key's first answer, unless it was never seen or is past its time (pruned or not yet). */
export function lookup(sql: SqlStorage, key: string, nowSec: number): Remembered | null {
  const row = sql
    .exec<{ fingerprint: string; seq: number; at: number; expires_at: number; revoked_at: number }>(
      "SELECT fingerprint, seq, at, expires_at, revoked_at FROM idempotency_keys WHERE key = ? AND forget_at > ?",
      key,
      nowSec,
    )
    .toArray()[0];
  return row
    ? { fingerprint: row.fingerprint, seq: row.seq, at: row.at, expiresAt: row.expires_at, revokedAt: row.revoked_at }
    : null;
}

/** Called in the same synchronous step as the revoke's insert, so the two land together or not at all. */
export function remember(sql: SqlStorage, claim: IdempotencyClaim, event: RevocationEvent, nowSec: number): void {
  // REPLACE: a row for this key past its time may still be there, awaiting the alarm.
  const { n } = sql
    .exec<{ n: number }>(
      "INSERT OR REPLACE INTO idempotency_keys (key, fingerprint, seq, at, expires_at, revoked_at, forget_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING n",
      claim.key,
      claim.fingerprint,
      event.seq,
      event.revocation.at,
      event.revocation.expiresAt,
      event.at,
      nowSec + IDEMPOTENCY_KEY_TTL_SECONDS,
    )
    .one();
  sql.exec("DELETE FROM idempotency_keys WHERE n <= ?", n - MAX_IDEMPOTENCY_KEYS);
}

/** Forgets keys past their time. */
export function prune(sql: SqlStorage, nowSec: number): void {
  sql.exec("DELETE FROM idempotency_keys WHERE forget_at <= ?", nowSec);
}

/** When the next key is due to be forgotten (Unix seconds), null when none is held. */
export function nextForget(sql: SqlStorage): number | null {
  return sql.exec<{ f: number | null }>("SELECT MIN(forget_at) AS f FROM idempotency_keys").one().f;
}

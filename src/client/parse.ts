// Checks that an answer has the shape the client promises its caller, so a proxy's page or a
// mismatched server version is a clear error instead of undefined fields further on.
import type { FeedPage, Health, Revocation, RevocationEvent, RevokeResult } from "./types.js";

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);
const isSeq = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isTime = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isAge = (v: unknown): v is number | null => v === null || isTime(v);
const isReason = (v: unknown): v is string | null => v === null || typeof v === "string";
const KINDS: readonly unknown[] = ["jti", "token", "sub", "sid", "email"];

function isRevocation(v: unknown): v is Revocation {
  return (
    isObject(v) &&
    KINDS.includes(v.kind) &&
    typeof v.value === "string" &&
    (v.iss === null || typeof v.iss === "string") &&
    isTime(v.at) &&
    isTime(v.expiresAt)
  );
}

export function asEvent(v: unknown): RevocationEvent | null {
  return isObject(v) && isSeq(v.seq) && isRevocation(v.revocation) && isTime(v.at)
    ? (v as unknown as RevocationEvent)
    : null;
}

export function asRevokeResult(v: unknown): RevokeResult | null {
  return isObject(v) && isSeq(v.seq) && isRevocation(v.revocation) ? { seq: v.seq, revocation: v.revocation } : null;
}

export function asFeedPage(v: unknown): FeedPage | null {
  if (!isObject(v) || !Array.isArray(v.events) || !(v.next === null || isSeq(v.next))) return null;
  const events: RevocationEvent[] = [];
  for (const item of v.events) {
    const event = asEvent(item);
    if (event === null) return null;
    events.push(event);
  }
  return { events, next: v.next };
}

/** Checks the fields that Health names; the rest of the body passes through as it came. */
export function asHealth(v: unknown): Health | null {
  if (!isObject(v) || v.status !== "ok" || !Array.isArray(v.issuers) || !isObject(v.revocation)) return null;
  const issuersOk = v.issuers.every(
    (i: unknown) =>
      isObject(i) &&
      typeof i.issuer === "string" &&
      isObject(i.jwks) &&
      isSeq(i.jwks.keys) &&
      isAge(i.jwks.ageSeconds) &&
      typeof i.jwks.fresh === "boolean" &&
      isReason(i.jwks.lastError),
  );
  const { maxStalenessSeconds, view } = v.revocation;
  const viewOk =
    isObject(view) &&
    isSeq(view.seq) &&
    isAge(view.ageSeconds) &&
    (view.path === null || view.path === "fresh" || view.path === "kv") &&
    isReason(view.lastError);
  return issuersOk && isSeq(maxStalenessSeconds) && viewOk ? (v as unknown as Health) : null;
}

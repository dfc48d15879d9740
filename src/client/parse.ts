// Checks that an answer has the shape the client promises its caller, so a proxy's page or a
// mismatched server version is a clear error instead of undefined fields further on.
import type { FeedPage, Revocation, RevocationEvent, RevokeResult } from "./types.js";

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);
const isSeq = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isTime = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
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

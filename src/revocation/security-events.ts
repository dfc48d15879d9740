// What a verified logout token or Security Event Token revokes. Back-channel logout: its `sid`, or
// its `sub` without one. SETs (RFC 8417) per event type: CAEP `session-revoked` revokes the session
// (or, naming only a user, every session of the user); RISC `account-disabled` and
// `credential-compromise` revoke the subject. The subject is an RFC 9493 subject identifier, in
// `sub_id` (Shared Signals Framework) or in the event's own `subject` (older CAEP and RISC drafts).
// Other event types are acknowledged and ignored (the route counts them).
import { z } from "zod";
import type { Config } from "../config";
import { MAX_EVENTS_PER_TOKEN } from "../constants";
import { AuthError } from "../errors";
import type { VerifiedEventToken } from "../token/event-token";
import { untilNoTokenLeft } from "./facts";
import type { Revocation } from "./model";

export const CAEP_SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
export const RISC_ACCOUNT_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
export const RISC_CREDENTIAL_COMPROMISE = "https://schemas.openid.net/secevent/risc/event-type/credential-compromise";

const id = z.string().min(1).max(1024);
/** The RFC 9493 formats that can name a subject or a session the way tokens do. */
const SimpleSubject = z.discriminatedUnion("format", [
  z.object({ format: z.literal("iss_sub"), iss: id, sub: id }),
  z.object({ format: z.literal("opaque"), id }),
]);
const SubjectSchema = z.union([
  SimpleSubject,
  z.object({ format: z.literal("complex"), user: SimpleSubject.optional(), session: SimpleSubject.optional() }),
]);
type Simple = z.output<typeof SimpleSubject>;

interface Target {
  user?: { sub: string };
  session?: string;
}

/**
 * The subject's value, in the transmitter's own issuer. An `iss_sub` of another issuer is refused:
 * a transmitter's signature speaks for its own issuer's subjects only, never for another's users.
 */
function valueOf(s: Simple, token: VerifiedEventToken): string {
  if (s.format === "opaque") return s.id;
  if (s.iss !== token.issuer.issuer)
    throw new AuthError(
      "event_unsupported",
      "The event names a subject of another issuer; a transmitter revokes only its own issuer's subjects.",
    );
  return s.sub;
}

/** Who an event is about; a subject in a format that tokens cannot match is a 400, never a silent pass. */
function targetOf(event: Record<string, unknown>, token: VerifiedEventToken): Target {
  const raw = token.claims.sub_id ?? event.subject;
  if (raw === undefined) return typeof token.claims.sub === "string" ? { user: { sub: token.claims.sub } } : {};
  const parsed = SubjectSchema.safeParse(raw);
  if (!parsed.success)
    throw new AuthError(
      "event_unsupported",
      'The event\'s subject is not an "iss_sub", "opaque" or "complex" subject identifier.',
    );
  const s = parsed.data;
  if (s.format !== "complex") return { user: { sub: valueOf(s, token) } };
  return {
    user: s.user && { sub: valueOf(s.user, token) },
    session: s.session && valueOf(s.session, token),
  };
}

/** The back-channel logout's revocation: its sid, or its sub when it names no session. */
export function logoutTokenRevocation(token: VerifiedEventToken, config: Config, nowSec: number): Revocation {
  const { sid, sub } = token.claims as { sid?: string; sub?: string };
  const iss = token.issuer.issuer;
  const expiresAt = untilNoTokenLeft(config, nowSec);
  return sid !== undefined
    ? { kind: "sid", value: sid, iss, at: nowSec, expiresAt }
    : { kind: "sub", value: sub!, iss, at: nowSec, expiresAt };
}

export interface EventOutcome {
  revocations: Revocation[];
  /** Event types acknowledged without effect. */
  ignored: string[];
}

/** The revocations a Security Event Token asks for, one per event it understands. */
export function securityEventRevocations(token: VerifiedEventToken, config: Config, nowSec: number): EventOutcome {
  const entries = Object.entries(token.claims.events);
  if (entries.length === 0) throw new AuthError("event_token_invalid", "The token carries no event.");
  if (entries.length > MAX_EVENTS_PER_TOKEN)
    throw new AuthError("event_token_invalid", `The token carries more than ${MAX_EVENTS_PER_TOKEN} events.`);
  const out: EventOutcome = { revocations: [], ignored: [] };
  const expiresAt = untilNoTokenLeft(config, nowSec);
  for (const [type, body] of entries) {
    if (type !== CAEP_SESSION_REVOKED && type !== RISC_ACCOUNT_DISABLED && type !== RISC_CREDENTIAL_COMPROMISE) {
      out.ignored.push(type);
      continue;
    }
    const target = targetOf(typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {}, token);
    const iss = token.issuer.issuer;
    if (type === CAEP_SESSION_REVOKED && target.session !== undefined) {
      out.revocations.push({ kind: "sid", value: target.session, iss, at: nowSec, expiresAt });
    } else if (target.user !== undefined) {
      out.revocations.push({ kind: "sub", value: target.user.sub, iss, at: nowSec, expiresAt });
    } else {
      throw new AuthError("event_unsupported", "The event names neither a user nor a session.");
    }
  }
  return out;
}

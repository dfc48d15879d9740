// What a verified logout token or Security Event Token revokes. Back-channel logout: its `sid`, or
// its `sub` without one. SETs (RFC 8417) per event type: CAEP `session-revoked` revokes the session
// (or, naming only a user, every token of the user); CAEP `credential-change` and RISC
// `account-disabled`, `account-purged`, `credential-compromise` and `sessions-revoked` revoke the
// user's tokens. The subject is an RFC 9493 subject identifier, in `sub_id` (Shared Signals
// Framework) or in the event's own `subject` (older CAEP and RISC drafts): `iss_sub` and `opaque`
// name a sub (or a sid), `email` the tokens with that `email` claim, `jwt_id` one token by its jti.
// SSF stream control events are handed back to the receiver; other types are acknowledged and ignored.
import { z } from "zod";
import type { Config } from "../config";
import { MAX_EVENTS_PER_TOKEN } from "../constants";
import { AuthError } from "../errors";
import type { VerifiedEventToken } from "../token/event-token";
import { untilNoTokenLeft } from "./facts";
import type { Revocation } from "./model";

const CAEP = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC = "https://schemas.openid.net/secevent/risc/event-type/";
const SSF = "https://schemas.openid.net/secevent/ssf/event-type/";
export const CAEP_SESSION_REVOKED = `${CAEP}session-revoked`;
export const CAEP_CREDENTIAL_CHANGE = `${CAEP}credential-change`;
export const RISC_ACCOUNT_DISABLED = `${RISC}account-disabled`;
export const RISC_ACCOUNT_PURGED = `${RISC}account-purged`;
export const RISC_CREDENTIAL_COMPROMISE = `${RISC}credential-compromise`;
export const RISC_SESSIONS_REVOKED = `${RISC}sessions-revoked`;
/** Stream control (SSF 1.0 sections 8.1.4 and 8.1.5): about the stream, never a revocation. */
export const SSF_VERIFICATION = `${SSF}verification`;
export const SSF_STREAM_UPDATED = `${SSF}stream-updated`;

/**
 * What each event revokes (the README's table): every one ends the tokens of the subject it names;
 * a session-revoked event naming a session ends that session only.
 */
const REVOKING = new Set([
  CAEP_SESSION_REVOKED,
  CAEP_CREDENTIAL_CHANGE,
  RISC_ACCOUNT_DISABLED,
  RISC_ACCOUNT_PURGED,
  RISC_CREDENTIAL_COMPROMISE,
  RISC_SESSIONS_REVOKED,
]);

const id = z.string().min(1).max(1024);
/** The RFC 9493 formats that can name a subject, a session or a token the way tokens do. */
const SimpleSubject = z.discriminatedUnion("format", [
  z.object({ format: z.literal("iss_sub"), iss: id, sub: id }),
  z.object({ format: z.literal("opaque"), id }),
  z.object({ format: z.literal("email"), email: id }),
  z.object({ format: z.literal("jwt_id"), iss: id, jti: id }),
]);
const SubjectSchema = z.union([
  SimpleSubject,
  z.object({ format: z.literal("complex"), user: SimpleSubject.optional(), session: SimpleSubject.optional() }),
]);
type Simple = z.output<typeof SimpleSubject>;

/** A subject as a revocation names it. */
type Named = { kind: "sub" | "email" | "jti" | "sid"; value: string };

/**
 * The subject's revocation key, in the transmitter's own issuer. An `iss_sub` or `jwt_id` of another
 * issuer is refused: a transmitter's signature speaks for its own issuer's subjects only.
 */
function named(s: Simple, token: VerifiedEventToken, as: "sub" | "sid"): Named {
  if ((s.format === "iss_sub" || s.format === "jwt_id") && s.iss !== token.issuer.issuer)
    throw new AuthError(
      "event_unsupported",
      "The event names a subject of another issuer; a transmitter revokes only its own issuer's subjects.",
    );
  switch (s.format) {
    case "iss_sub":
      return { kind: as, value: s.sub };
    case "opaque":
      return { kind: as, value: s.id };
    case "email":
      if (as === "sid") throw new AuthError("event_unsupported", "A session cannot be named by an email address.");
      return { kind: "email", value: s.email.toLowerCase() };
    case "jwt_id":
      return { kind: "jti", value: s.jti };
  }
}

/**
 * Older CAEP and RISC drafts, which transmitters still send: Google's RISC names the format
 * `subject_type` with a dash (`"iss-sub"`), and Okta's CAEP events a complex subject without a
 * format (`{ "user": ..., "session": ... }`).
 */
function legacySubject(raw: unknown): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return raw;
  const s = raw as Record<string, unknown>;
  if (s.format !== undefined) return raw;
  if (typeof s.subject_type === "string") return { ...s, format: s.subject_type.replaceAll("-", "_") };
  if (s.user !== undefined || s.session !== undefined)
    return { ...s, format: "complex", user: legacySubject(s.user), session: legacySubject(s.session) };
  return raw;
}

/** Who or what an event is about; a subject in a format that tokens cannot match is a 400, never a silent pass. */
function targetOf(event: Record<string, unknown>, token: VerifiedEventToken): { user?: Named; session?: Named } {
  const raw = legacySubject(token.claims.sub_id ?? event.subject);
  if (raw === undefined)
    return typeof token.claims.sub === "string" ? { user: { kind: "sub", value: token.claims.sub } } : {};
  const parsed = SubjectSchema.safeParse(raw);
  if (!parsed.success)
    throw new AuthError(
      "event_unsupported",
      'The event\'s subject is not an "iss_sub", "opaque", "email", "jwt_id" or "complex" subject identifier.',
    );
  const s = parsed.data;
  if (s.format !== "complex") return { user: named(s, token, "sub") };
  return { user: s.user && named(s.user, token, "sub"), session: s.session && named(s.session, token, "sid") };
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
  /** Stream control events (verification, stream-updated), for the Shared Signals receiver (src/ssf/). */
  control: { type: string; event: Record<string, unknown> }[];
}

/** The revocations a Security Event Token asks for, one per event it understands. */
export function securityEventRevocations(token: VerifiedEventToken, config: Config, nowSec: number): EventOutcome {
  const entries = Object.entries(token.claims.events);
  if (entries.length === 0) throw new AuthError("event_token_invalid", "The token carries no event.");
  if (entries.length > MAX_EVENTS_PER_TOKEN)
    throw new AuthError("event_token_invalid", `The token carries more than ${MAX_EVENTS_PER_TOKEN} events.`);
  const out: EventOutcome = { revocations: [], ignored: [], control: [] };
  const expiresAt = untilNoTokenLeft(config, nowSec);
  for (const [type, body] of entries) {
    const event = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
    if (type === SSF_VERIFICATION || type === SSF_STREAM_UPDATED) {
      out.control.push({ type, event });
      continue;
    }
    if (!REVOKING.has(type)) {
      out.ignored.push(type);
      continue;
    }
    const target = targetOf(event, token);
    // A session-revoked event that names a session ends that session; every other ends the user's tokens.
    const what = type === CAEP_SESSION_REVOKED && target.session !== undefined ? target.session : target.user;
    if (what === undefined) throw new AuthError("event_unsupported", "The event names neither a user nor a session.");
    out.revocations.push({ kind: what.kind, value: what.value, iss: token.issuer.issuer, at: nowSec, expiresAt });
  }
  return out;
}

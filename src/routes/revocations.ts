// The revocation routes: POST /.auth/revoke (admin), POST /.auth/logout (the token's holder),
// GET /.auth/revocations (admin, the ordered feed) and GET /.auth/revocations/stream (admin, a
// WebSocket served by the ledger's hibernatable sockets). The stream takes the admin token in
// Authorization, or, from a browser (which cannot set headers on a WebSocket), as a subprotocol;
// never in the URL, which ends up in logs.
import { z } from "zod";
import { requireAdmin } from "../admin";
import { readJson } from "../body";
import {
  FEED_DEFAULT_LIMIT,
  FEED_MAX_LIMIT,
  MAX_ACTIVE_REVOCATIONS,
  MAX_ADMIN_BODY_BYTES,
  MAX_SELF_SERVICE_PER_SUBJECT,
  SUBJECT_REVOCATION_RESERVE,
} from "../constants";
import { AuthError } from "../errors";
import { askLedger } from "../revocation/ask";
import { factsOf, logoutRevocation, revocationOf } from "../revocation/facts";
import { fingerprintOf } from "../revocation/idempotency";
import type { KeyedRevoke, Refusal } from "../revocation/ledger";
import type { Recorded } from "../revocation/store";
import {
  IdempotencyKeySchema,
  RevocationEventSchema,
  RevocationSchema,
  RevokeBodySchema,
  type RevocationEvent,
} from "../revocation/model";
import { nowSec } from "../clock";
import { checkRequire } from "../policy";
import { certificateOf } from "../sender/certificate";
import { checkSender, type SenderRule } from "../sender/check";
import { extractCredential } from "../token/extract";
import { verifyToken } from "../token/verify";
import { depsOf, type AppContext } from "./context";

export const RevokeResponseSchema = z
  .object({ seq: RevocationEventSchema.shape.seq, revocation: RevocationSchema })
  .meta({ id: "RevokeResponse" });

export const FeedResponseSchema = z
  .object({
    events: z.array(RevocationEventSchema),
    next: z
      .number()
      .int()
      .min(0)
      .nullable()
      .describe("The `since` of the following page, or null when this page reached the end."),
  })
  .meta({ id: "Feed" });

/** The ledger's record, or the refusal as the client's answer. */
function recordedOrThrow(result: Recorded | Refusal, selfService = false): Recorded {
  switch (result) {
    case "full":
      // The reserve past the cap is the admin's and the identity provider's, not a holder's.
      throw new AuthError(
        "revocations_full",
        selfService
          ? `The ledger holds the most active revocations it accepts (${MAX_ACTIVE_REVOCATIONS}); an admin can still revoke by sub or sid.`
          : `The ledger holds the most active revocations it accepts (${MAX_ACTIVE_REVOCATIONS}); sub and sid revocations are still taken, into a reserve of ${SUBJECT_REVOCATION_RESERVE}.`,
      );
    case "self_service_full":
      throw new AuthError(
        "revocations_full",
        "The ledger's room for self-service logouts is full; the rest is kept for the admin and the identity provider.",
      );
    case "subject_limit":
      throw new AuthError(
        "logout_limited",
        `This subject already has ${MAX_SELF_SERVICE_PER_SUBJECT} active logouts; end every session with ?scope=all instead.`,
      );
    case "token_revoked":
      throw new AuthError("token_revoked", "The token has been revoked.");
    default:
      return result;
  }
}

/** The request's Idempotency-Key, null without one; a malformed one is a 400, never ignored. */
function idempotencyKeyOf(headers: Headers): string | null {
  const header = headers.get("Idempotency-Key");
  if (header === null) return null;
  const key = IdempotencyKeySchema.safeParse(header);
  if (!key.success)
    throw new AuthError("body_invalid", "Idempotency-Key must be 1 to 255 printable ASCII characters, e.g. a UUID.");
  return key.data;
}

function keyedAnswer(keyed: KeyedRevoke): RevocationEvent {
  if (keyed.outcome === "key_reused") {
    throw new AuthError(
      "idempotency_key_reused",
      "This Idempotency-Key was already used for a different revoke request; a new request needs a new key.",
    );
  }
  return keyed.outcome === "full" ? recordedOrThrow("full").event : keyed.event;
}

export async function revoke(c: AppContext): Promise<Response> {
  const config = c.get("config");
  requireAdmin(c.req.raw.headers, config);
  const key = idempotencyKeyOf(c.req.raw.headers);
  const body = await readJson(c.req.raw, RevokeBodySchema, MAX_ADMIN_BODY_BYTES);
  const revocation = await revocationOf(body, config, nowSec());
  // "admin:" keeps these keys apart from the jti keys of logout and security event tokens.
  const claim = key === null ? null : { key: `admin:${key}`, fingerprint: await fingerprintOf(body) };
  const event =
    claim === null
      ? recordedOrThrow((await askLedger(c.env, (ledger) => ledger.revoke(revocation))) ?? "full").event
      : keyedAnswer(await askLedger<KeyedRevoke>(c.env, (ledger) => ledger.revokeOnce(revocation, claim)));
  const answer: z.output<typeof RevokeResponseSchema> = { seq: event.seq, revocation: event.revocation };
  return c.json(answer, 200, { "Cache-Control": "no-store" });
}

/** Logging out twice is harmless, so a proof's replay is refused in the isolate only. */
const LOGOUT_SENDER: SenderRule = { sender: "any", proofReplay: "isolate" };

export const LogoutQuerySchema = z.object({ scope: z.enum(["token", "session", "all"]).default("token") });

export async function logout(c: AppContext): Promise<Response> {
  const config = c.get("config");
  const query = LogoutQuerySchema.safeParse({ scope: c.req.query("scope") });
  if (!query.success) throw new AuthError("body_invalid", 'scope must be "session", "all" or absent.');
  const scope = query.data.scope;
  const credential = extractCredential(c.req.raw.headers);
  if (credential === null) throw new AuthError("token_missing", "Logging out needs the token to end.");
  const token = credential.token;
  const nowMs = Date.now();
  const verified = await verifyToken(token, config, depsOf(c).keyFor, nowMs);
  // A bound token logs out as it is used: with its proof or its certificate (a stolen one cannot end the session either).
  const target = {
    method: c.req.method,
    url: c.req.url,
    headers: c.req.raw.headers,
    certificate: () => certificateOf(c.req.raw),
  };
  const { nextNonce } = await checkSender(credential, verified, target, LOGOUT_SENDER, config, nowMs, undefined);
  if (scope !== "token") {
    const require = config.logout[scope];
    if (require === false)
      throw new AuthError(
        "insufficient_scope",
        `Logging out with ?scope=${scope} is turned off here (LOGOUT.${scope}).`,
      );
    checkRequire({ require }, verified.claims);
  }
  const facts = await factsOf(verified, token, config.clockToleranceSeconds);
  const revocation = logoutRevocation(verified, facts, scope, config, nowSec());
  // The ledger refuses it when the caller's token is revoked already, in the same step as the insert.
  // The quota's key: the subject, or for a token without one its session, so such tokens do not share one quota.
  const sid = typeof verified.claims.sid === "string" ? verified.claims.sid : "";
  const subject = `${verified.issuer.issuer}\n${verified.claims.sub ?? `(no sub) ${sid}`}`;
  recordedOrThrow(
    await askLedger<Recorded | Refusal>(c.env, (ledger) => ledger.logout(revocation, { subject, facts })),
    true,
  );
  return c.body(null, 204, { "Cache-Control": "no-store", ...(nextNonce ? { "DPoP-Nonce": nextNonce } : {}) });
}

export const FeedQuerySchema = z.object({
  since: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(FEED_MAX_LIMIT).default(FEED_DEFAULT_LIMIT),
});

export async function revocationFeed(c: AppContext): Promise<Response> {
  requireAdmin(c.req.raw.headers, c.get("config"));
  const query = FeedQuerySchema.safeParse({ since: c.req.query("since"), limit: c.req.query("limit") });
  if (!query.success)
    throw new AuthError("body_invalid", `since must be a seq (0 or more), limit 1 to ${FEED_MAX_LIMIT}.`);
  const { since, limit } = query.data;
  const events = await askLedger(c.env, (ledger) => ledger.feed(since, limit));
  // `next` is the `since` of the following page, or null when this page reached the end.
  const next = events.length === limit ? events[events.length - 1]!.seq : null;
  const page: z.output<typeof FeedResponseSchema> = { events, next };
  return c.json(page, 200, { "Cache-Control": "no-store" });
}

/** The stream's subprotocol: the one the answer selects when a client offers it. */
export const STREAM_PROTOCOL = "edge-jwt-authorizer.revocations.v1";
/**
 * A browser offers, beside STREAM_PROTOCOL, this prefix + the admin token in base64url (as
 * Kubernetes' API server takes a bearer token). It is never the one selected, so never echoed.
 */
export const STREAM_TOKEN_PROTOCOL_PREFIX = "base64url.bearer.edge-jwt-authorizer.";
/** The longest token subprotocol read (a 768-character token); a longer one is no credential. */
const MAX_TOKEN_PROTOCOL_CHARS = 1_024;

/**
 * The headers that carry the stream caller's credential: the request's own, or, when it has no
 * Authorization and offers STREAM_PROTOCOL with exactly one token subprotocol, an Authorization
 * made of that token (anything else there is no credential, so a 401).
 */
function streamCredential(headers: Headers): { credential: Headers; offersProtocol: boolean } {
  const offered = (headers.get("Sec-WebSocket-Protocol") ?? "").split(",").map((p) => p.trim());
  const offersProtocol = offered.includes(STREAM_PROTOCOL);
  if (headers.has("Authorization") || !offersProtocol) return { credential: headers, offersProtocol };
  const tokens = offered.filter((p) => p.startsWith(STREAM_TOKEN_PROTOCOL_PREFIX));
  const token = tokens.length === 1 ? tokenOfProtocol(tokens[0]!.slice(STREAM_TOKEN_PROTOCOL_PREFIX.length)) : null;
  return { credential: new Headers(token === null ? {} : { Authorization: `Bearer ${token}` }), offersProtocol };
}

/** The admin token a token subprotocol carries: printable ASCII, as in Authorization; else null. */
function tokenOfProtocol(encoded: string): string | null {
  if (encoded.length > MAX_TOKEN_PROTOCOL_CHARS || !/^[A-Za-z0-9_-]+$/.test(encoded)) return null;
  try {
    const token = atob(encoded.replace(/-/g, "+").replace(/_/g, "/"));
    return /^[\x21-\x7e]+$/.test(token) ? token : null;
  } catch {
    return null; // not base64 (a length of 4n + 1)
  }
}

export async function revocationStream(c: AppContext): Promise<Response> {
  const { credential, offersProtocol } = streamCredential(c.req.raw.headers);
  requireAdmin(credential, c.get("config"));
  if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") {
    throw new AuthError("upgrade_required", "This route is a WebSocket: send Upgrade: websocket.");
  }
  const since = c.req.query("since");
  if (since !== undefined && !FeedQuerySchema.shape.since.safeParse(since).success) {
    throw new AuthError("body_invalid", "since must be a seq (0 or more).");
  }
  // The ledger is not told the subprotocols (one may be the token); the answer selects ours.
  const headers = new Headers(c.req.raw.headers);
  headers.delete("Sec-WebSocket-Protocol");
  const answer = await askLedger(c.env, (ledger) => ledger.fetch(new Request(c.req.raw, { headers })));
  if (!offersProtocol || answer.webSocket === null) return answer;
  return new Response(null, {
    status: 101,
    webSocket: answer.webSocket,
    headers: { "Sec-WebSocket-Protocol": STREAM_PROTOCOL },
  });
}

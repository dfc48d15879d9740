// The one place where a refusal becomes HTTP: status, RFC 6750 `WWW-Authenticate`, and an RFC 9457
// `application/problem+json` body. Details are fixed strings chosen by the code that threw, so no
// token, key or secret can reach a client through here.
import { z } from "zod";
import { AuthError, type DenialCode } from "./errors";

export const PROBLEM_TYPE_BASE = "urn:edge-jwt-authorizer:problem:";
/** When to try again after a 503: the issuer's keys may be back after one refetch cooldown. */
export const RETRY_AFTER_SECONDS = 5;

/** Every denial's body, for the API description; extra members (e.g. `errors`) may follow. */
export const ProblemSchema = z
  .looseObject({
    type: z.string().describe(`${PROBLEM_TYPE_BASE}<code>`),
    title: z.string(),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    code: z.string().describe("Stable machine-readable reason, the last part of `type`."),
  })
  .meta({ id: "Problem", description: "RFC 9457 problem details." });

interface ProblemShape {
  status: number;
  title: string;
  /** RFC 6750 error code for `WWW-Authenticate`; "" means a challenge without an error. */
  bearer?: "" | "invalid_token" | "insufficient_scope" | "invalid_request";
  /** A DPoP challenge whatever the request's scheme (RFC 9449 section 7.1): its error code, or "" for none. */
  dpop?: "" | "invalid_token" | "invalid_dpop_proof" | "use_dpop_nonce";
  /** A non-Bearer challenge (the client API key). */
  challenge?: string;
  /** The protocol a 426 asks for (RFC 9110 `Upgrade`). */
  upgrade?: string;
}

function shape(code: DenialCode): ProblemShape {
  switch (code) {
    case "path_ambiguous":
      return { status: 400, title: "Ambiguous request path" };
    case "path_invalid":
      return { status: 400, title: "Invalid request path" };
    case "method_override":
      return { status: 400, title: "Method override refused" };
    case "token_missing":
      return { status: 401, title: "Authentication required", bearer: "" };
    case "token_malformed":
    case "token_too_large":
    case "token_expired":
    case "token_not_yet_valid":
    case "token_issued_in_future":
    case "token_lifetime_too_long":
    case "token_claims_invalid":
    case "issuer_unknown":
    case "audience_mismatch":
    case "algorithm_not_allowed":
    case "key_unknown":
    case "key_too_weak":
    case "signature_invalid":
    case "crit_unsupported":
    case "token_revoked":
    case "token_suspended":
    case "token_status_invalid":
      return { status: 401, title: "Invalid token", bearer: "invalid_token" };
    case "token_dpop_bound":
    case "token_not_dpop_bound":
      return { status: 401, title: "Wrong authorization scheme for this token", dpop: "invalid_token" };
    case "sender_unbound":
      return { status: 401, title: "Sender-constrained token required", dpop: "invalid_token" };
    case "dpop_proof_invalid":
    case "dpop_proof_replayed":
      return { status: 401, title: "Invalid DPoP proof", dpop: "invalid_dpop_proof" };
    case "dpop_nonce_required":
      return { status: 401, title: "DPoP nonce required", dpop: "use_dpop_nonce" };
    case "certificate_required":
    case "certificate_mismatch":
      // RFC 8705 section 3: a certificate that does not match the token is the token's invalidity.
      return { status: 401, title: "Client certificate does not match the token", bearer: "invalid_token" };
    case "event_token_invalid":
      return { status: 400, title: "Invalid logout or security event token" };
    case "event_token_replayed":
      return { status: 400, title: "Logout or security event token replayed" };
    case "event_unsupported":
      return { status: 400, title: "Security event not supported" };
    case "insufficient_scope":
      return { status: 403, title: "Insufficient scope", bearer: "insufficient_scope" };
    case "client_key_missing":
    case "client_key_unknown":
      return { status: 401, title: "Client application not recognised", challenge: "ApiKey" };
    case "client_origin_forbidden":
      return { status: 403, title: "Client application not allowed from this origin" };
    case "admin_unauthorized":
      return { status: 401, title: "Admin token required", bearer: "" };
    case "body_invalid":
      return { status: 400, title: "Invalid request body" };
    case "issuer_not_configured":
      return { status: 400, title: "Issuer not configured" };
    case "body_too_large":
      return { status: 413, title: "Request body too large" };
    case "revocations_full":
      return { status: 507, title: "Too many active revocations" };
    case "logout_limited":
      return { status: 429, title: "Too many logouts for this subject" };
    case "idempotency_key_reused":
      // draft-ietf-httpapi-idempotency-key-header: a key reused with another payload is a 422
      return { status: 422, title: "Idempotency key reused" };
    case "jwks_unavailable":
      return { status: 503, title: "Signing keys unavailable" };
    case "revocations_unavailable":
      return { status: 503, title: "Revocation list unavailable" };
    case "dpop_replay_unavailable":
      return { status: 503, title: "DPoP replay check unavailable" };
    case "status_list_unavailable":
      return { status: 503, title: "Token status list unavailable" };
    case "origin_unreachable":
      return { status: 502, title: "Origin unreachable" };
    case "origin_timeout":
      return { status: 504, title: "Origin timed out" };
    case "config_invalid":
      return { status: 500, title: "Invalid configuration" };
    case "not_found":
      return { status: 404, title: "Not found" };
    case "method_not_allowed":
      return { status: 405, title: "Method not allowed" };
    case "upgrade_required":
      return { status: 426, title: "Upgrade required", upgrade: "websocket" };
  }
}

/** A value safe inside an RFC 7235 quoted-string (no quotes, backslashes or control characters). */
function quoted(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]|["\\]/g, "")}"`;
}

/** The realm of a challenge: the host the client asked for. */
export function realmOf(request: Request): string {
  try {
    return new URL(request.url).host;
  } catch {
    return "";
  }
}

/** How a refusal challenges a client that may use DPoP. */
export interface DpopChallenge {
  /** The proof algorithms accepted, space-separated (RFC 9449 `algs`). */
  algs: string;
  /** Whether the request presented its token with the DPoP scheme: its challenges are then DPoP ones. */
  requested: boolean;
}

/**
 * `resourceMetadata`: the URL of this API's RFC 9728 metadata (PROTECTED_RESOURCE), carried by every
 * Bearer and DPoP challenge so that a client (an MCP client) can find where to get a token.
 */
export function problemResponse(
  error: AuthError,
  realm: string,
  dpop?: DpopChallenge,
  resourceMetadata?: string,
): Response {
  const { status, title, bearer, challenge, upgrade, dpop: dpopError } = shape(error.code);
  const headers = new Headers({ "Content-Type": "application/problem+json", "Cache-Control": "no-store" });
  const metadata = resourceMetadata ? `, resource_metadata=${quoted(resourceMetadata)}` : "";
  const describe = (code: string) =>
    (code ? `, error=${quoted(code)}, error_description=${quoted(error.detail)}` : "") + metadata;
  if (dpopError !== undefined || (bearer !== undefined && dpop?.requested)) {
    const algs = dpop ? `, algs=${quoted(dpop.algs)}` : "";
    headers.set("WWW-Authenticate", `DPoP realm=${quoted(realm)}${algs}${describe(dpopError ?? bearer!)}`);
    if (error.challenge?.dpopNonce) headers.set("DPoP-Nonce", error.challenge.dpopNonce);
  } else if (bearer !== undefined) {
    let value = `Bearer realm=${quoted(realm)}${describe(bearer)}`;
    if (error.challenge?.offerDpop)
      value += `, DPoP realm=${quoted(realm)}${dpop ? `, algs=${quoted(dpop.algs)}` : ""}${metadata}`;
    headers.set("WWW-Authenticate", value);
  } else if (challenge) {
    headers.set("WWW-Authenticate", `${challenge} realm=${quoted(realm)}`);
  }
  if (status === 503) headers.set("Retry-After", String(RETRY_AFTER_SECONDS));
  if (upgrade) headers.set("Upgrade", upgrade);
  const body = {
    type: PROBLEM_TYPE_BASE + error.code,
    title,
    status,
    detail: error.detail,
    code: error.code,
    ...error.extra,
  };
  return new Response(JSON.stringify(body), { status, headers });
}

/** Anything thrown that is not an AuthError is a bug: answer 500 without leaking its message. */
export function unexpectedErrorResponse(): Response {
  const body = {
    type: PROBLEM_TYPE_BASE + "internal_error",
    title: "Internal error",
    status: 500,
    detail: "The authorizer failed unexpectedly; the request was not forwarded.",
    code: "internal_error",
  };
  return new Response(JSON.stringify(body), {
    status: 500,
    headers: { "Content-Type": "application/problem+json", "Cache-Control": "no-store" },
  });
}

/**
 * The answers of the routes an identity provider calls, in its own standards' terms: OpenID Connect
 * Back-Channel Logout 1.0 (400 `{ error, error_description }`) and RFC 8935 push delivery (400
 * `{ err, description }`). A client error of any kind is their 400; an outage keeps its 5xx (and
 * Retry-After), so the provider retries rather than drops the event.
 */
export function eventErrorResponse(error: AuthError, style: "backchannel" | "secevent"): Response {
  const { status } = shape(error.code);
  const headers = new Headers({ "Content-Type": "application/json", "Cache-Control": "no-store" });
  if (status === 503) headers.set("Retry-After", String(RETRY_AFTER_SECONDS));
  const clientError = status < 500;
  const answer = clientError ? 400 : status;
  const body =
    style === "backchannel"
      ? { error: clientError ? "invalid_request" : "temporarily_unavailable", error_description: error.detail }
      : { err: clientError ? setErrorCode(error.code) : "temporarily_unavailable", description: error.detail };
  return new Response(JSON.stringify(body), { status: answer, headers });
}

/**
 * A SET's refusal as RFC 8936 `setErrs` reports it to a transmitter that delivered it by poll; null
 * for an outage (5xx), which is not the SET's fault: it stays unacknowledged and comes again.
 */
export function setErrorOf(error: AuthError): { err: string; description: string } | null {
  return shape(error.code).status >= 500 ? null : { err: setErrorCode(error.code), description: error.detail };
}

/** RFC 8935 section 2.4's error codes (the IANA "Security Event Token Error Codes"). */
function setErrorCode(code: DenialCode): string {
  switch (code) {
    case "issuer_unknown":
      return "invalid_issuer";
    case "audience_mismatch":
      return "invalid_audience";
    case "key_unknown":
    case "key_too_weak":
    case "algorithm_not_allowed":
      return "invalid_key";
    case "signature_invalid":
      return "authentication_failed";
    default:
      return "invalid_request";
  }
}

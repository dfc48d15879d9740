// Every way a request can be refused, as one union of stable codes. Errors are thrown (or returned)
// as AuthError with one of these codes; src/problem.ts is the only place that turns them into HTTP.

export type DenialCode =
  // 400: the request itself is unusable
  | "path_ambiguous"
  | "path_invalid"
  | "method_override"
  // 401: no credential
  | "token_missing"
  // 401 invalid_token: a credential that does not hold
  | "token_malformed"
  | "token_too_large"
  | "token_expired"
  | "token_not_yet_valid"
  | "token_issued_in_future"
  | "token_lifetime_too_long"
  | "token_claims_invalid"
  | "issuer_unknown"
  | "audience_mismatch"
  | "algorithm_not_allowed"
  | "key_unknown"
  | "key_too_weak"
  | "signature_invalid"
  | "crit_unsupported"
  | "token_revoked"
  // Token Status List
  | "token_suspended"
  | "token_status_invalid"
  // sender-constrained tokens (RFC 9449 DPoP, RFC 8705 certificates)
  | "token_dpop_bound"
  | "token_not_dpop_bound"
  | "sender_unbound"
  | "dpop_proof_invalid"
  | "dpop_proof_replayed"
  | "dpop_nonce_required"
  | "certificate_required"
  | "certificate_mismatch"
  // logout tokens and Security Event Tokens (their routes answer in OAuth / RFC 8935 terms)
  | "event_token_invalid"
  | "event_token_replayed"
  | "event_unsupported"
  // 403 insufficient_scope
  | "insufficient_scope"
  // client applications (CLIENTS)
  | "client_key_missing"
  | "client_key_unknown"
  | "client_origin_forbidden"
  // admin and revocation routes
  | "admin_unauthorized"
  | "body_invalid"
  | "body_too_large"
  | "issuer_not_configured"
  | "revocations_full"
  | "logout_limited"
  | "idempotency_key_reused"
  // neighbours
  | "jwks_unavailable"
  | "origin_unreachable"
  | "origin_timeout"
  | "revocations_unavailable"
  | "dpop_replay_unavailable"
  | "status_list_unavailable"
  // the authorizer itself
  | "config_invalid"
  | "not_found"
  | "method_not_allowed"
  | "upgrade_required";

export class AuthError extends Error {
  override readonly name = "AuthError";
  constructor(
    readonly code: DenialCode,
    /** Why, for the client and the log. Never contains the token or any other secret. */
    readonly detail: string,
    /** Extra members of the problem body (e.g. the names of bad config vars). */
    readonly extra?: Record<string, unknown>,
    /**
     * What the challenge carries besides the code: the DPoP nonce a use_dpop_nonce refusal hands out;
     * whether a Bearer challenge is joined by a DPoP one (a route that takes only bound tokens).
     */
    readonly challenge?: { dpopNonce?: string; offerDpop?: boolean },
  ) {
    super(`${code}: ${detail}`);
  }
}

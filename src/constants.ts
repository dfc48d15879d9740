// Limits and timings, with their units in their names. Each bound is here so that a hostile or
// broken neighbour (client, issuer, origin) costs a bounded amount of memory and time.

/** Longest token accepted, checked before any parsing (RFC 6750 tokens are rarely over 2 KiB). */
export const MAX_TOKEN_BYTES = 8 * 1024;

/** A JWKS or discovery document larger than this is an error, not a parse. */
export const MAX_JWKS_BYTES = 256 * 1024;
/** A JWKS or discovery fetch slower than this (headers and body) is an error. */
export const JWKS_FETCH_TIMEOUT_MS = 3_000;
/** At most one JWKS refetch per issuer in this window when a token names an unknown `kid`. */
export const JWKS_REFETCH_COOLDOWN_MS = 5_000;
/** Bounds on how long a fetched JWKS is fresh; the issuer's `Cache-Control: max-age` is clamped to them. */
export const JWKS_MIN_TTL_SECONDS = 60;
export const JWKS_MAX_TTL_SECONDS = 24 * 3600;
/** Freshness when the issuer sends no usable `max-age`. */
export const JWKS_DEFAULT_TTL_SECONDS = 600;
/** How long past its freshness a key set keeps serving while the issuer cannot be reached. */
export const JWKS_STALE_IF_ERROR_SECONDS = 24 * 3600;
/** Keys in one JWKS beyond this are ignored (real issuers publish a handful). */
export const MAX_JWKS_KEYS = 100;

/** Time for the origin to answer with headers; the body then streams without a deadline. */
export const ORIGIN_TIMEOUT_MS = 30_000;

/**
 * Verified tokens kept per isolate (src/token/verified-cache.ts): at most this many, holding at most
 * this many bytes of tokens (claims are about as large again). 10 000 covers the active users of one
 * location; 16 MiB keeps the cache far inside an isolate's 128 MB next to 1 000 000 revocations (~12 MB).
 */
export const MAX_VERIFIED_TOKENS = 10_000;
export const MAX_VERIFIED_TOKEN_BYTES = 16 * 1024 * 1024;
/** A claim value longer than this is not put in a header (X-Auth-Claims still carries it). */
export const MAX_CLAIM_HEADER_BYTES = 4 * 1024;
/**
 * A logout token or Security Event Token older than this (by its `iat`, plus the clock tolerance)
 * is refused: it is a delivery, not a credential to keep. Replays are refused for 24 h, far past it.
 */
export const EVENT_TOKEN_MAX_AGE_SECONDS = 300;
/** Events in one Security Event Token beyond this are refused (RFC 8417 SETs carry one, rarely more). */
export const MAX_EVENTS_PER_TOKEN = 10;
/** The request path (before the query) is refused beyond this. */
export const MAX_PATH_BYTES = 8 * 1024;
/**
 * A path that can be read more than one way (escapes, backslashes, ";", "//", dot segments) is
 * refused beyond this: each reading costs time linear in the length, and no API route needs 2 KiB
 * of escapes. Plain paths keep MAX_PATH_BYTES.
 */
export const MAX_READ_PATH_BYTES = 2 * 1024;
/**
 * Segments in a request path at most, and in one that can be read more than one way: each reading
 * is a pass over them, and matching a rule a pass over those it names (npm run bench:paths). An API
 * path with more is no request to serve.
 */
export const MAX_PATH_SEGMENTS = 256;
export const MAX_READ_PATH_SEGMENTS = 64;

/** Bounds on the configuration, so that one bad deploy cannot make every request slow. */
export const MAX_ISSUERS = 20;
export const MAX_POLICY_ROUTES = 500;
export const MAX_CLIENTS = 1_000;

/**
 * Active revocations the ledger accepts at most. In an edge isolate each is a 12-byte record of the
 * snapshot searched in place (src/revocation/hashed-index.ts), so the view stays near 12 MB of the
 * Worker's 128 MB (npm run bench:revocations).
 */
export const MAX_ACTIVE_REVOCATIONS = 1_000_000;
/**
 * Of those, tokens' holders' own logouts may fill at most this many, so that logins an attacker
 * controls can never take the room the admin and the identity provider revoke with.
 */
export const MAX_SELF_SERVICE_REVOCATIONS = 800_000;
/**
 * Active self-service entries per subject (per-token and per-session logouts of one user): far more
 * than one person logs out in a token's lifetime, far less than a script with one account needs to
 * matter. Past it the holder can still end everything with ?scope=all, one entry.
 */
export const MAX_SELF_SERVICE_PER_SUBJECT = 100;
/** sub and sid revocations are accepted this far past MAX_ACTIVE_REVOCATIONS: they replace per-token ones. */
export const SUBJECT_REVOCATION_RESERVE = 100_000;
/** Admin and logout request bodies beyond this are refused (413), counted while streaming. */
export const MAX_ADMIN_BODY_BYTES = 16 * 1024;
/** A strict-mode revocation check or a revoke waits this long for the ledger before a 503. */
export const LEDGER_TIMEOUT_MS = 5_000;
/**
 * How long the ledger remembers an Idempotency-Key of POST /.auth/revoke (draft-ietf-httpapi-
 * idempotency-key-header): retries come within minutes, so a day covers any client's retry policy,
 * including one that resumes after a restart, while keeping the table small.
 */
export const IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600;
/**
 * Idempotency keys kept at most; past it the oldest is forgotten first (its retries are long over).
 * A row is under 400 bytes (src/revocation/idempotency.ts), so the table stays under 40 MB.
 */
export const MAX_IDEMPOTENCY_KEYS = 100_000;
/**
 * What the fresh head (src/revocation/fresh-head.ts) carries: the entries recorded in the last
 * FRESH_WINDOW_SECONDS (longer than KV takes to show a write everywhere, so a view loaded from KV
 * meets the window), at most FRESH_MAX_ENTRIES.
 */
export const FRESH_WINDOW_SECONDS = 180;
export const FRESH_MAX_ENTRIES = 2_000;
/** Feed page size: default and maximum. */
export const FEED_DEFAULT_LIMIT = 100;
export const FEED_MAX_LIMIT = 1_000;

/**
 * A DPoP proof header larger than this is refused before parsing: a proof carries one public key
 * (an RSA 4096 one is about 700 characters) and a few short claims.
 */
export const MAX_DPOP_PROOF_BYTES = 4 * 1024;
/** A proof's jti longer than this is refused: it is remembered for the proof window (proof-replay.ts). */
export const MAX_DPOP_JTI_CHARS = 256;
/**
 * DPoP proofs remembered per isolate against replay (src/sender/proof-replay.ts), each under 200
 * bytes with its key: 10 MB at most, 50 000 proofs in one proof window, far more than one
 * isolate serves in a minute.
 */
export const MAX_REMEMBERED_PROOFS = 50_000;
/** A network-wide DPoP replay check (src/sender/replay-shard.ts) waits this long before a 503. */
export const REPLAY_CHECK_TIMEOUT_MS = 2_000;

/** Token Status Lists (src/status-list/): how long a list may be cached, unless ISSUERS[].statusLists says otherwise. */
export const STATUS_LIST_DEFAULT_MIN_TTL_SECONDS = 60;
export const STATUS_LIST_DEFAULT_MAX_TTL_SECONDS = 900;
/** A list past its freshness still serves this long while its host cannot be reached (never past its exp). */
export const STATUS_LIST_STALE_IF_ERROR_SECONDS = 900;
/** A status list token's fetch (headers and body) slower than this is an error; redirects beyond the count too. */
export const STATUS_LIST_FETCH_TIMEOUT_MS = 3_000;
export const STATUS_LIST_MAX_REDIRECTS = 3;
/**
 * A status list token larger than this is refused (a compressed list of 16 million one-bit entries
 * of which a few percent are set is far below it), and a list that inflates past the next bound:
 * 8 MiB is 64 million one-bit or 8 million eight-bit entries.
 */
export const MAX_STATUS_LIST_TOKEN_BYTES = 2 * 1024 * 1024;
export const MAX_STATUS_LIST_BYTES = 8 * 1024 * 1024;
/** Inflated lists kept per isolate, in bytes and in count; past either the least recently loaded goes first. */
export const MAX_STATUS_LIST_CACHE_BYTES = 24 * 1024 * 1024;
export const MAX_STATUS_LISTS = 100;
export const MAX_STATUS_LIST_URI_CHARS = 2048;

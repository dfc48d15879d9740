// The wire shapes of the authorizer's revocation routes, as the client sees them. They mirror
// src/revocation/model.ts (test/client.test.ts keeps the two equal) without importing it, so
// the client carries no Worker code.

export type RevocationKind = "jti" | "token" | "sub" | "sid" | "email";

export interface Revocation {
  kind: RevocationKind;
  /** The jti, the token's SHA-256 (hex), the subject or the session id. */
  value: string;
  /** The issuer it applies to; null means any issuer. */
  iss: string | null;
  /** When it was revoked (Unix seconds); sub/sid deny tokens with iat <= at. */
  at: number;
  /** When the entry expires by itself (Unix seconds). */
  expiresAt: number;
}

export interface RevocationEvent {
  /** The ledger's order: strictly increasing. Superseded and expired entries leave gaps. */
  seq: number;
  revocation: Revocation;
  /** When the ledger recorded it (Unix seconds). */
  at: number;
}

/** The answer of POST /.auth/revoke. */
export interface RevokeResult {
  seq: number;
  revocation: Revocation;
}

/** One page of GET /.auth/revocations; pass `next` as `since` for the following page (null: the end). */
export interface FeedPage {
  events: RevocationEvent[];
  next: number | null;
}

/**
 * The answer of GET /.auth/health, as far as the client checks it: liveness, each issuer's keys and
 * how far this edge isolate's view of revocations lags. The body has more (policy, status lists,
 * Shared Signals transmitters, ...; the OpenAPI document's "Health" schema lists all of it).
 */
export interface Health {
  status: "ok";
  issuers: {
    issuer: string;
    jwks: { keys: number; ageSeconds: number | null; fresh: boolean; lastError: string | null };
    [member: string]: unknown;
  }[];
  revocation: {
    maxStalenessSeconds: number;
    view: {
      /** The last seq this isolate holds. */
      seq: number;
      ageSeconds: number | null;
      /** fresh: through the ledger's fresh head; kv: through KV alone; null: not read yet. */
      path: "fresh" | "kv" | null;
      lastError: string | null;
      [member: string]: unknown;
    };
  };
  [member: string]: unknown;
}

/** An RFC 9457 problem body, as the authorizer sends with every refusal. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  [member: string]: unknown;
}

/** What the client needs of a fetch; the runtime's own `fetch` fits, and so does a wrapper. */
export type FetchLike = (
  input: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<ResponseLike>;

export interface ResponseLike {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

// RevocationClient: what an origin or an identity service needs of the authorizer's admin routes,
// typed, with retries that cannot revoke twice, and a stream that survives restarts.
import { RevocationClientError } from "./errors.js";
import { follow, type FollowOptions } from "./follow.js";
import { request, type Transport } from "./http.js";
import { asFeedPage, asHealth, asRevokeResult } from "./parse.js";
import type { FeedPage, FetchLike, Health, RevocationEvent, RevokeResult } from "./types.js";

export interface RevocationClientOptions {
  /** The authorizer's origin, e.g. "https://api.example.com" (its routes live under /.auth/). */
  baseUrl: string;
  /** One of the authorizer's ADMIN_TOKENS. */
  adminToken: string;
  /** Per attempt, from sending to the end of the answer. Default 10 000 ms. */
  timeoutMs?: number;
  /** Attempts after the first, on network errors, timeouts and 502/503/504. Default 3, at most 10. */
  retries?: number;
  /** Defaults to the runtime's fetch; a wrapper may add logging, a proxy, a test double. */
  fetch?: FetchLike;
}

export interface CallOptions {
  /** Aborts the call, retries included (RevocationClientError with code "aborted"). */
  signal?: AbortSignal;
}

export interface RevokeOptions extends CallOptions {
  /**
   * The Idempotency-Key sent with every attempt of this call. Default: a new random UUID per call.
   * Pass your own (and keep it) to make a revoke idempotent across process restarts too; the
   * authorizer remembers a key for 24 hours.
   */
  idempotencyKey?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 120_000;
const DEFAULT_RETRIES = 3;
const MAX_RETRIES = 10;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

export class RevocationClient {
  readonly #transport: Transport;

  constructor(options: RevocationClientOptions) {
    if (typeof options.adminToken !== "string" || !/^[\x21-\x7e]+$/.test(options.adminToken)) {
      throw new TypeError("RevocationClient: adminToken must be a non-empty token of printable ASCII characters.");
    }
    const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init)); // called unbound: some runtimes refuse
    this.#transport = {
      baseUrl: baseUrlOf(options.baseUrl),
      adminToken: options.adminToken,
      fetch: fetchImpl,
      timeoutMs: bounded(options.timeoutMs, DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS, "timeoutMs"),
      retries: bounded(options.retries, DEFAULT_RETRIES, 0, MAX_RETRIES, "retries"),
    };
  }

  /** Denies this token (by its jti, or its SHA-256 when it has none) until its exp. */
  revokeToken(token: string, options?: RevokeOptions): Promise<RevokeResult> {
    return this.#revoke({ token }, options);
  }

  /** Denies the token with this jti (of issuer `iss`, or of any issuer) until `exp` (Unix seconds). */
  revokeJti(target: { jti: string; exp: number; iss?: string }, options?: RevokeOptions): Promise<RevokeResult> {
    return this.#revoke({ jti: target.jti, exp: target.exp, iss: target.iss }, options);
  }

  /** Denies every token of this session issued until now. */
  revokeSession(target: { sid: string; iss?: string }, options?: RevokeOptions): Promise<RevokeResult> {
    return this.#revoke({ sid: target.sid, iss: target.iss }, options);
  }

  /** Denies every token of this subject issued until now ("log out everywhere"). */
  revokeSubject(target: { sub: string; iss?: string }, options?: RevokeOptions): Promise<RevokeResult> {
    return this.#revoke({ sub: target.sub, iss: target.iss }, options);
  }

  /** One page of the ordered feed: the events after `since` (default 0), at most `limit` (1 to 1000). */
  async feed(page: { since?: number; limit?: number } = {}, options?: CallOptions): Promise<FeedPage> {
    let path = `/.auth/revocations?since=${encodeURIComponent(String(page.since ?? 0))}`;
    if (page.limit !== undefined) path += `&limit=${encodeURIComponent(String(page.limit))}`;
    const value = await request(this.#transport, { method: "GET", path, signal: options?.signal });
    const parsed = asFeedPage(value);
    if (parsed === null) throw invalidAnswer("feed page");
    return parsed;
  }

  /** Every event after `since`, in seq order, page by page until the end of the feed. */
  async *feedAll(
    since = 0,
    options?: CallOptions & { limit?: number },
  ): AsyncGenerator<RevocationEvent, void, undefined> {
    let cursor: number | null = since;
    while (cursor !== null) {
      const page: FeedPage = await this.feed({ since: cursor, limit: options?.limit }, options);
      yield* page.events;
      // Each page must move forward, so this ends however the server behaves.
      if (page.next !== null && page.next <= cursor) throw invalidAnswer("feed page whose next does not advance");
      cursor = page.next;
    }
  }

  /** GET /.auth/health, with the admin token (which adds originUrl): the isolate that answered it. */
  async health(options?: CallOptions): Promise<Health> {
    const value = await request(this.#transport, { method: "GET", path: "/.auth/health", signal: options?.signal });
    const parsed = asHealth(value);
    if (parsed === null) throw invalidAnswer("health answer");
    return parsed;
  }

  /**
   * Delivers the stream's events after `since` to onEvent, in seq order and each once, reconnecting
   * (with backoff, from the last delivered seq) whenever the connection drops, until `signal`
   * aborts. Resolves with the last delivered seq; rejects when the authorizer refuses (e.g. 401),
   * when onEvent throws, or after `maxConsecutiveFailures` failed connections. Not in browsers:
   * their WebSocket cannot send the admin token.
   */
  follow(options: FollowOptions): Promise<number> {
    const { baseUrl, adminToken, fetch, timeoutMs } = this.#transport;
    return follow({ baseUrl, adminToken, fetch, timeoutMs }, options);
  }

  async #revoke(body: Record<string, unknown>, options: RevokeOptions = {}): Promise<RevokeResult> {
    const idempotencyKey = options.idempotencyKey ?? newIdempotencyKey();
    if (idempotencyKey.length > 255 || !PRINTABLE_ASCII.test(idempotencyKey)) {
      throw new RevocationClientError({
        status: null,
        code: "request_invalid",
        detail: "idempotencyKey must be 1 to 255 printable ASCII characters.",
      });
    }
    const value = await request(this.#transport, {
      method: "POST",
      path: "/.auth/revoke",
      body,
      idempotencyKey,
      signal: options.signal,
    });
    const parsed = asRevokeResult(value);
    if (parsed === null) throw invalidAnswer("revoke answer");
    return parsed;
  }
}

/** Without its trailing slash, so that "/.auth/..." can be appended. */
function baseUrlOf(value: string): string {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:") || url.search !== "" || url.hash !== "") {
    throw new TypeError("RevocationClient: baseUrl must be an http: or https: URL without query or fragment.");
  }
  return url.href.replace(/\/+$/, "");
}

function bounded(value: number | undefined, fallback: number, min: number, max: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max)
    throw new TypeError(`RevocationClient: ${name} must be an integer from ${min} to ${max}.`);
  return value;
}

function invalidAnswer(what: string): RevocationClientError {
  return new RevocationClientError({
    status: 200,
    code: "response_invalid",
    detail: `The authorizer sent an unexpected ${what}.`,
  });
}

/** A random UUID; from getRandomValues where randomUUID is missing (browsers outside secure contexts). */
function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// Each issuer's signing keys, fetched from its JWKS and kept in isolate memory as imported
// CryptoKeys, so that a request costs a Map lookup, never a fetch or an import. The raw key set is
// also put in the Cache API so that the other isolates of a location start warm.
//
// Freshness: the issuer's `max-age`, clamped to [JWKS_MIN_TTL_SECONDS, JWKS_MAX_TTL_SECONDS]. A stale
// set keeps serving while a background refresh runs, and for JWKS_STALE_IF_ERROR_SECONDS while the
// issuer is down. An unknown `kid` triggers one refetch per JWKS_REFETCH_COOLDOWN_MS per issuer,
// shared by every request waiting on it (single flight), so a flood of made-up kids costs one fetch.
//
// Sharing never means awaiting another request's promise: workerd ties I/O to the request that
// started it, runs a waiter's continuation in that request's context, and drops it if that request
// goes away (npm run soak found this for the revocation view: 500s and hung requests). A request
// that finds a load under way watches this object's state until the load lands, bounded in time.
import { importJWK, type JWK, type JWSHeaderParameters } from "jose";
import { z } from "zod";
import type { IssuerConfig } from "../config";
import {
  JWKS_DEFAULT_TTL_SECONDS,
  JWKS_FETCH_TIMEOUT_MS,
  JWKS_MAX_TTL_SECONDS,
  JWKS_MIN_TTL_SECONDS,
  JWKS_REFETCH_COOLDOWN_MS,
  JWKS_STALE_IF_ERROR_SECONDS,
  MAX_JWKS_BYTES,
  MAX_JWKS_KEYS,
} from "../constants";
import { AuthError } from "../errors";
import { fetchBoundedJson, FetchFailed } from "./fetch-bounded";

const JwksSchema = z.object({ keys: z.array(z.unknown()) });
const DiscoverySchema = z.object({ issuer: z.string(), jwks_uri: z.url({ protocol: /^https?$/ }) });

interface KeySet {
  keys: JWK[];
  fetchedAtMs: number;
  freshUntilMs: number;
}

/** What /.auth/health shows of an issuer's keys. */
export interface KeysStatus {
  keys: number;
  ageSeconds: number | null;
  fresh: boolean;
  fetches: number;
  lastError: string | null;
}

/** The key types each algorithm may use; anything else (notably `oct`, i.e. HMAC) never verifies. */
function keyFits(jwk: JWK, alg: string): boolean {
  if (jwk.use !== undefined && jwk.use !== "sig") return false;
  if (jwk.key_ops !== undefined && !jwk.key_ops.includes("verify")) return false;
  if (jwk.alg !== undefined && jwk.alg !== alg && !(isEdDSA(jwk.alg) && isEdDSA(alg))) return false;
  if (alg.startsWith("RS") || alg.startsWith("PS")) return jwk.kty === "RSA";
  if (alg === "ES256") return jwk.kty === "EC" && jwk.crv === "P-256";
  if (alg === "ES384") return jwk.kty === "EC" && jwk.crv === "P-384";
  if (alg === "ES512") return jwk.kty === "EC" && jwk.crv === "P-521";
  if (isEdDSA(alg)) return jwk.kty === "OKP" && jwk.crv === "Ed25519";
  return false;
}
const isEdDSA = (alg: string) => alg === "EdDSA" || alg === "Ed25519";

/** Public signature keys only: private material or symmetric keys in a JWKS are ignored. */
function usable(value: unknown): value is JWK {
  if (typeof value !== "object" || value === null) return false;
  const jwk = value as JWK;
  return (jwk.kty === "RSA" || jwk.kty === "EC" || jwk.kty === "OKP") && jwk.d === undefined;
}

function clampTtl(maxAgeSeconds: number | undefined): number {
  const ttl = maxAgeSeconds ?? JWKS_DEFAULT_TTL_SECONDS;
  return Math.min(JWKS_MAX_TTL_SECONDS, Math.max(JWKS_MIN_TTL_SECONDS, ttl));
}

const SHARED_CACHE_ORIGIN = "https://jwks.edge-jwt-authorizer.internal/";
const LOAD_WATCH_POLL_MS = 10;
/** Discovery and the JWKS, each bounded by the fetch timeout, plus a margin. */
const LOAD_WATCH_POLLS = Math.ceil((2 * JWKS_FETCH_TIMEOUT_MS + 500) / LOAD_WATCH_POLL_MS);

export class IssuerKeys {
  private set: KeySet | null = null;
  /** When the load under way (started by some request) began; -Infinity when none is. */
  private loadingSinceMs = -Infinity;
  /** When the issuer itself (not the shared cache) was last asked; the refetch cooldown counts from it. */
  private lastIssuerFetchMs = -Infinity;
  private lastError: string | null = null;
  private fetches = 0;
  // Bounded by the keys of the current set: a dropped JWK object is collected with its entries.
  private imported = new WeakMap<JWK, Map<string, Promise<CryptoKey>>>();
  // Which JWK each imported key came from, for holds(); weak on both sides for the same reason.
  private sourceOf = new WeakMap<CryptoKey, JWK>();

  // The wall clock, read through Date.now like every other part of the Worker, so that a test freezes
  // one clock for all of them (test/helpers/app.ts freezeClock).
  constructor(readonly issuer: IssuerConfig) {}

  private clock(): number {
    return Date.now();
  }

  /** The CryptoKey that the token's header names, fetching or refetching the JWKS as needed. */
  async keyFor(
    header: JWSHeaderParameters,
    waitUntil?: (p: Promise<unknown>) => void,
    beforeNetwork?: () => void,
  ): Promise<CryptoKey> {
    const alg = header.alg ?? "";
    const now = this.clock();
    let set = this.usableSet(now);
    if (!set) {
      beforeNetwork?.();
      set = await this.refresh(false);
      if (!set) {
        throw new AuthError("jwks_unavailable", "The issuer's signing keys cannot be fetched right now.");
      }
    } else if (now > set.freshUntilMs) {
      waitUntil?.(this.refresh(false)); // serve the stale set now; the next request gets the new one
    }
    let jwk = pick(set, header.kid, alg);
    if (!jwk && this.clock() - this.lastIssuerFetchMs >= JWKS_REFETCH_COOLDOWN_MS) {
      beforeNetwork?.();
      set = (await this.refresh(true)) ?? set;
      jwk = pick(set, header.kid, alg);
    }
    if (!jwk) {
      // The issuer's last answer was a failure: the key may have rotated in since the set we hold,
      // so "unknown" would make a client discard a good token. Unavailable, to be retried.
      if (this.lastError !== null)
        throw new AuthError("jwks_unavailable", "The issuer's signing keys cannot be fetched right now.");
      throw new AuthError("key_unknown", "The token's signing key is not among the issuer's keys.");
    }
    return this.importKey(jwk, alg);
  }

  /**
   * Whether `key` is still in the issuer's usable key set, for a verification done earlier. Never
   * waits on the network: a stale set is refreshed in the background, as keyFor does, and a key
   * that left the JWKS stops holding once the refreshed set is in.
   */
  holds(key: CryptoKey, waitUntil?: (p: Promise<unknown>) => void): boolean {
    const now = this.clock();
    const set = this.usableSet(now);
    if (!set) return false;
    if (now > set.freshUntilMs) waitUntil?.(this.refresh(false));
    const jwk = this.sourceOf.get(key);
    return jwk !== undefined && set.keys.includes(jwk);
  }

  status(): KeysStatus {
    const now = this.clock();
    return {
      keys: this.set?.keys.length ?? 0,
      ageSeconds: this.set ? Math.round((now - this.set.fetchedAtMs) / 1000) : null,
      fresh: this.set ? now <= this.set.freshUntilMs : false,
      fetches: this.fetches,
      lastError: this.lastError,
    };
  }

  /**
   * One load at a time; resolves to the newest usable set (possibly the stale one) or null.
   * `fromIssuer` skips the shared cache: an unknown kid means that cache may be the stale one.
   */
  private async refresh(fromIssuer: boolean): Promise<KeySet | null> {
    const now = this.clock();
    if (this.lastError && now - this.lastIssuerFetchMs < JWKS_REFETCH_COOLDOWN_MS) {
      return this.usableSet(now); // the issuer just failed: do not pile on
    }
    if (this.loadingSinceMs !== -Infinity) return this.watchLoad();
    const started = (this.loadingSinceMs = now);
    try {
      this.set = await this.load(fromIssuer);
      this.lastError = null;
    } catch (e) {
      this.lastError = e instanceof FetchFailed ? e.message : "unexpected error";
    } finally {
      if (this.loadingSinceMs === started) this.loadingSinceMs = -Infinity;
    }
    return this.usableSet(this.clock());
  }

  /**
   * Waits for another request's load by polling this object, never its promise (see the top). A
   * load that never lands (its request was cancelled) is given up after the longest a load can
   * take (discovery and JWKS, each within the fetch timeout), and the next caller loads afresh.
   */
  private async watchLoad(): Promise<KeySet | null> {
    const started = this.loadingSinceMs;
    for (let i = 0; i < LOAD_WATCH_POLLS && this.loadingSinceMs === started; i++)
      await scheduler.wait(LOAD_WATCH_POLL_MS);
    if (this.loadingSinceMs === started) this.loadingSinceMs = -Infinity;
    return this.usableSet(this.clock());
  }

  /** The current set while it may still serve: fresh, or stale within the stale-if-error bound. */
  private usableSet(now: number): KeySet | null {
    const set = this.set;
    return set && now <= set.freshUntilMs + JWKS_STALE_IF_ERROR_SECONDS * 1000 ? set : null;
  }

  private async load(fromIssuer: boolean): Promise<KeySet> {
    const cacheKey = `${SHARED_CACHE_ORIGIN}?issuer=${encodeURIComponent(this.issuer.issuer)}&jwks=${encodeURIComponent(this.issuer.jwksUri ?? "")}`;
    if (!fromIssuer) {
      const shared = await readShared(cacheKey);
      if (shared && shared.freshUntilMs > this.clock()) return shared;
    }
    this.lastIssuerFetchMs = this.clock();
    const jwksUri = this.issuer.jwksUri ?? (await this.discover());
    this.fetches++;
    const { body, text, maxAgeSeconds } = await fetchBoundedJson(jwksUri, JWKS_FETCH_TIMEOUT_MS, MAX_JWKS_BYTES);
    const parsed = JwksSchema.safeParse(body);
    if (!parsed.success) throw new FetchFailed("body is not a JWKS");
    const ttl = clampTtl(maxAgeSeconds);
    const now = this.clock();
    await writeShared(cacheKey, text, ttl, now);
    return toKeySet(parsed.data.keys, now, ttl);
  }

  private async discover(): Promise<string> {
    const url = `${this.issuer.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    this.fetches++;
    const { body } = await fetchBoundedJson(url, JWKS_FETCH_TIMEOUT_MS, MAX_JWKS_BYTES);
    const doc = DiscoverySchema.safeParse(body);
    if (!doc.success) throw new FetchFailed("discovery document has no valid jwks_uri");
    if (doc.data.issuer !== this.issuer.issuer) throw new FetchFailed("discovery document names another issuer");
    return doc.data.jwks_uri;
  }

  private importKey(jwk: JWK, alg: string): Promise<CryptoKey> {
    let byAlg = this.imported.get(jwk);
    if (!byAlg) this.imported.set(jwk, (byAlg = new Map()));
    let key = byAlg.get(alg);
    if (!key) {
      key = (importJWK(jwk, alg) as Promise<CryptoKey>).then(
        (imported) => {
          this.sourceOf.set(imported, jwk);
          return imported;
        },
        () => {
          byAlg.delete(alg);
          throw new AuthError("key_unknown", "The issuer's key for this token cannot be used.");
        },
      );
      byAlg.set(alg, key);
    }
    return key;
  }
}

function toKeySet(raw: unknown[], nowMs: number, ttlSeconds: number): KeySet {
  return {
    keys: raw.slice(0, MAX_JWKS_KEYS).filter(usable),
    fetchedAtMs: nowMs,
    freshUntilMs: nowMs + ttlSeconds * 1000,
  };
}

/** The key the header names; without a `kid`, the issuer's only key that fits the algorithm. */
function pick(set: KeySet, kid: string | undefined, alg: string): JWK | undefined {
  if (kid !== undefined) return set.keys.find((k) => k.kid === kid && keyFits(k, alg));
  const fitting = set.keys.filter((k) => keyFits(k, alg));
  return fitting.length === 1 ? fitting[0] : undefined;
}

async function readShared(cacheKey: string): Promise<KeySet | null> {
  try {
    const hit = await caches.default.match(cacheKey);
    if (!hit) return null;
    const fetchedAtMs = Number(hit.headers.get("X-Fetched-At"));
    const ttl = Number(hit.headers.get("X-Ttl-Seconds"));
    const body = JwksSchema.safeParse(await hit.json());
    if (!body.success || !Number.isFinite(fetchedAtMs) || !Number.isFinite(ttl)) return null;
    return {
      keys: body.data.keys.slice(0, MAX_JWKS_KEYS).filter(usable),
      fetchedAtMs,
      freshUntilMs: fetchedAtMs + ttl * 1000,
    };
  } catch {
    return null; // the shared cache is an optimisation; its absence must not fail a request
  }
}

async function writeShared(cacheKey: string, text: string, ttlSeconds: number, nowMs: number): Promise<void> {
  try {
    const response = new Response(text, {
      headers: {
        "Content-Type": "application/json",
        "Cache-Control": `max-age=${ttlSeconds}`,
        "X-Fetched-At": String(nowMs),
        "X-Ttl-Seconds": String(ttlSeconds),
      },
    });
    await caches.default.put(cacheKey, response);
  } catch {
    // as above: not having the shared copy only costs other isolates one fetch
  }
}

// Deliberate cache: one IssuerKeys per configured issuer and key location. It is bounded because
// the configuration holds at most MAX_ISSUERS issuers; the cap below also bounds it if an isolate
// ever sees several configurations, dropping the oldest entry first.
// Each issuer's config object also remembers its entry (weakly, so it goes with its Config): the
// lookup runs on every request (the verified-token cache's key check), and building the id string
// each time cost more than the rest of it.
const MAX_ISSUER_ENTRIES = 64;
const registry = new Map<string, IssuerKeys>();
const byConfig = new WeakMap<IssuerConfig, IssuerKeys>();

export function keysOf(issuer: IssuerConfig): IssuerKeys {
  const known = byConfig.get(issuer);
  if (known) return known;
  const id = `${issuer.issuer}\u0000${issuer.jwksUri ?? ""}\u0000${issuer.algorithms.join(",")}`;
  let keys = registry.get(id);
  if (!keys) {
    if (registry.size >= MAX_ISSUER_ENTRIES) registry.delete(registry.keys().next().value!);
    keys = new IssuerKeys(issuer);
    registry.set(id, keys);
  }
  byConfig.set(issuer, keys);
  return keys;
}

// Test doubles at the fetch boundary: identity providers (discovery + JWKS) and an echoing origin.
// The Worker's own modules are never mocked; only the outbound `fetch` is answered here.
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from "jose";
import { vi } from "vitest";

export type IssuerMode = "ok" | "down" | "slow" | "garbage" | "not-found" | "huge" | "not-jwks";

interface Key {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export class FakeIssuer {
  readonly keys: Key[] = [];
  /** Keys signed with but not published (an attacker's, or one rotated out). */
  readonly hidden: Key[] = [];
  mode: IssuerMode = "ok";
  maxAgeSeconds: number | undefined = 300;
  jwksFetches = 0;
  discoveryFetches = 0;

  constructor(readonly issuer: string) {}

  get jwksUri(): string {
    return `${this.issuer}/jwks.json`;
  }

  async addKey(
    alg = "ES256",
    kid = `${alg}-${this.keys.length + this.hidden.length + 1}`,
    published = true,
  ): Promise<Key> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const key = { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
    (published ? this.keys : this.hidden).push(key);
    return key;
  }

  removeKey(kid: string): void {
    const i = this.keys.findIndex((k) => k.kid === kid);
    if (i >= 0) this.hidden.push(...this.keys.splice(i, 1));
  }

  /** A token from this issuer; `claims` override the defaults (null deletes a claim). */
  async sign(
    claims: Record<string, unknown> = {},
    opts: { kid?: string; header?: Record<string, unknown> } = {},
  ): Promise<string> {
    const key = [...this.keys, ...this.hidden].find((k) => k.kid === (opts.kid ?? this.keys[0]?.kid));
    if (!key) throw new Error("no key to sign with");
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = {
      iss: this.issuer,
      aud: "api",
      sub: "alice",
      iat: now,
      exp: now + 600,
      jti: crypto.randomUUID(),
      ...claims,
    };
    for (const [k, v] of Object.entries(payload)) if (v === null) delete payload[k];
    return new SignJWT(payload as JWTPayload)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...opts.header })
      .sign(key.privateKey);
  }

  async handle(url: URL, signal: AbortSignal | null): Promise<Response> {
    if (url.pathname === "/.well-known/openid-configuration") {
      this.discoveryFetches++;
      if (this.mode === "down") throw new TypeError("connection refused");
      return Response.json({ issuer: this.issuer, jwks_uri: this.jwksUri });
    }
    if (url.pathname !== "/jwks.json") return new Response("no", { status: 404 });
    this.jwksFetches++;
    const cacheControl: Record<string, string> =
      this.maxAgeSeconds === undefined ? {} : { "Cache-Control": `max-age=${this.maxAgeSeconds}` };
    switch (this.mode) {
      case "down":
        throw new TypeError("connection refused");
      case "slow":
        return new Promise((_, reject) => {
          const fail = () => reject(new DOMException("aborted", "AbortError"));
          if (signal?.aborted) fail();
          signal?.addEventListener("abort", fail);
        });
      case "garbage":
        return new Response("<html>not json", { headers: cacheControl });
      case "not-jwks":
        return Response.json({ hello: "world" }, { headers: cacheControl });
      case "not-found":
        return new Response("missing", { status: 404 });
      case "huge": {
        // A stream that would never end: the reader must stop at the byte limit.
        const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
        let sent = 0;
        const body = new ReadableStream({
          pull(controller) {
            if (sent++ > 1600) return controller.close(); // 100 MB at most
            controller.enqueue(chunk);
          },
        });
        return new Response(body, { headers: { "Content-Type": "application/json" } });
      }
      case "ok":
        return Response.json({ keys: this.keys.map((k) => k.publicJwk) }, { headers: cacheControl });
    }
  }
}

export interface OriginRecord {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyBytes: number;
  bodySha256: string;
}

async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

export type OriginBehaviour = (request: Request, signal: AbortSignal | null) => Promise<Response> | undefined;

/** The whole outside world of a test: issuers by origin, an echoing origin, and a log of every fetch. */
export class FakeNetwork {
  readonly issuers = new Map<string, FakeIssuer>();
  readonly fetched: string[] = [];
  readonly originRequests: OriginRecord[] = [];
  originHost = "origin.test";
  /** Replaces the echo for one test (slow, failing, custom answers). */
  originBehaviour: OriginBehaviour | null = null;
  /** Other documents, by URL without query (an issuer's status lists, a redirect): answered before the issuers'. */
  readonly served = new Map<string, (request: Request) => Response | Promise<Response>>();

  issuer(issuer: string): FakeIssuer {
    const fake = new FakeIssuer(issuer);
    this.issuers.set(new URL(issuer).origin, fake);
    return fake;
  }

  install(): void {
    vi.spyOn(globalThis, "fetch").mockImplementation((input, init) =>
      this.handle(new Request(input as RequestInfo, init), init?.signal ?? null),
    );
  }

  fetchesTo(host: string): number {
    return this.fetched.filter((u) => new URL(u).host === host).length;
  }

  private async handle(request: Request, signal: AbortSignal | null): Promise<Response> {
    this.fetched.push(request.url);
    const url = new URL(request.url);
    const served = this.served.get(url.origin + url.pathname);
    if (served) return served(request);
    const issuer = this.issuers.get(url.origin);
    if (issuer) return issuer.handle(url, signal);
    if (url.host === this.originHost) {
      const custom = this.originBehaviour?.(request, signal);
      if (custom) return custom;
      const body = await request.arrayBuffer();
      const record: OriginRecord = {
        method: request.method,
        url: request.url,
        headers: Object.fromEntries(request.headers),
        bodyBytes: body.byteLength,
        bodySha256: await sha256Hex(body),
      };
      this.originRequests.push(record);
      return Response.json(record, { headers: { "X-Origin": "echo", "Set-Cookie": "a=1" } });
    }
    throw new TypeError(`unexpected fetch to ${url.host}`);
  }
}

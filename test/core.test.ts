// The pure core on its own: verifyToken, authorize, the identity headers and forwardHeaders, each
// called directly with a local key lookup, a fixed now and no binding, as workers-oauth-provider
// tests its validators. The Worker-level tests (worker.fetch) stay as the contract's tests.
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWTPayload } from "jose";
import { describe, expect, it } from "vitest";
import { authorize, type Deps } from "../src/authorize";
import { parseConfig, type Config } from "../src/config";
import { AuthError } from "../src/errors";
import { tokenHeaders } from "../src/identity";
import { RESERVED } from "../src/policy";
import { forwardHeaders } from "../src/proxy";
import { verifyToken, type KeyLookup, type VerifiedToken } from "../src/token/verify";

const ISS = "https://core.test";
const NOW_MS = Date.UTC(2026, 11, 3, 12, 0, 0);
const NOW = NOW_MS / 1000;

const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
const publicJwk = await exportJWK(publicKey);
/** The issuer's one key, found without any network. */
const keyFor: KeyLookup = async () => (await importJWK({ ...publicJwk, alg: "ES256" }, "ES256")) as CryptoKey;

function configOf(vars: Record<string, unknown> = {}): Config {
  const parsed = parseConfig({ ISSUERS: [{ issuer: ISS, jwksUri: `${ISS}/jwks`, audiences: ["api"] }], ...vars });
  if (!("config" in parsed)) throw new Error(JSON.stringify(parsed.issues));
  return parsed.config;
}

function sign(claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: ISS, aud: "api", sub: "alice", iat: NOW, exp: NOW + 600, ...claims })
    .setProtectedHeader({ alg: "ES256", typ: "JWT", ...header })
    .sign(privateKey);
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "none";
  } catch (e) {
    if (!(e instanceof AuthError)) throw e;
    return e.code;
  }
}

describe("verifyToken", () => {
  const config = configOf();

  it("verifies a token at a fixed now, and says who issued it", async () => {
    const verified = await verifyToken(await sign({ jti: "j" }), config, keyFor, NOW_MS);
    expect(verified.claims).toMatchObject({ sub: "alice", jti: "j" });
    expect(verified.issuer.issuer).toBe(ISS);
  });

  it("applies the clock tolerance at the edges of exp and iat, with no clock but the one given", async () => {
    const token = await sign({ exp: NOW + 10 });
    expect(await codeOf(verifyToken(token, config, keyFor, (NOW + 10 + 29) * 1000))).toBe("none");
    expect(await codeOf(verifyToken(token, config, keyFor, (NOW + 10 + 31) * 1000))).toBe("token_expired");
    expect(await codeOf(verifyToken(await sign({ iat: NOW + 31, exp: NOW + 600 }), config, keyFor, NOW_MS))).toBe(
      "token_issued_in_future",
    );
  });

  it("refuses a lifetime over the cap, a missing iat, another issuer, and a token with events", async () => {
    expect(await codeOf(verifyToken(await sign({ exp: NOW + 86_401 }), config, keyFor, NOW_MS))).toBe(
      "token_lifetime_too_long",
    );
    expect(await codeOf(verifyToken(await sign({ iat: undefined }), config, keyFor, NOW_MS))).toBe(
      "token_claims_invalid",
    );
    expect(await codeOf(verifyToken(await sign({ iss: "https://other.test" }), config, keyFor, NOW_MS))).toBe(
      "issuer_unknown",
    );
    expect(await codeOf(verifyToken(await sign({ events: { "urn:x": {} } }), config, keyFor, NOW_MS))).toBe(
      "token_claims_invalid",
    );
  });
});

describe("authorize", () => {
  const config = configOf({
    POLICY: {
      routes: [
        { path: "/public/*", auth: "none" },
        { path: "/orders/*", methods: ["DELETE"], require: { roles: ["admin"] } },
        { path: "/orders/*", require: { scopes: ["read"] } },
      ],
    },
  });
  const revoked = new Set<string>();
  const deps = (): Deps => ({
    keyFor,
    keyHeld: () => true,
    nowMs: NOW_MS,
    checkRevocation: async (_rule, verified: VerifiedToken) => {
      if (revoked.has(verified.claims.jti ?? "")) throw new AuthError("token_revoked", "revoked");
    },
  });
  const target = (method: string, rawPath: string, token?: string, extra: Record<string, string> = {}) => ({
    method,
    rawPath,
    rawQuery: "",
    headers: new Headers({ ...(token ? { Authorization: `Bearer ${token}` } : {}), ...extra }),
    url: `https://api.example${rawPath}`,
    certificate: () => null,
  });

  it("approves by rule: public without a token, protected with one that meets the rule", async () => {
    const pub = await authorize(target("GET", "/public/x"), config, deps());
    expect(pub !== RESERVED && pub.verified).toBeNull();
    const ok = await authorize(target("GET", "/orders/1", await sign({ scope: "read" })), config, deps());
    expect(ok !== RESERVED && ok.rule.index).toBe(2);
    expect(await authorize(target("GET", "/.auth/x"), config, deps())).toBe(RESERVED);
  });

  it("refuses in the order the contract states: no token, bad path, scope, revocation, method override", async () => {
    const reader = await sign({ scope: "read", jti: "r-1" });
    expect(await codeOf(authorize(target("GET", "/orders/1"), config, deps()))).toBe("token_missing");
    expect(await codeOf(authorize(target("GET", "/public/..%2Forders/1"), config, deps()))).toBe("path_ambiguous");
    expect(await codeOf(authorize(target("DELETE", "/orders/1", reader), config, deps()))).toBe("insufficient_scope");
    expect(
      await codeOf(
        authorize(target("POST", "/orders/1", reader, { "X-HTTP-Method-Override": "DELETE" }), config, deps()),
      ),
    ).toBe("method_override");
    revoked.add("r-1");
    expect(await codeOf(authorize(target("GET", "/orders/1", reader), config, deps()))).toBe("token_revoked");
  });
});

describe("the identity headers and what is forwarded", () => {
  const config = configOf({ CLAIM_HEADERS: { email: "X-Email-Claim" } });

  it("tokenHeaders: the claims as headers, arrays escaped, from the claims alone", async () => {
    const verified = await verifyToken(
      await sign({ jti: "j", roles: ["a", "b,c"], scp: ["x y"], email: "a@x.test" }),
      config,
      keyFor,
      NOW_MS,
    );
    const headers = Object.fromEntries(tokenHeaders(verified, config.claimHeaders));
    expect(headers).toMatchObject({
      "X-Auth-Subject": "alice",
      "X-Auth-Token-Id": "j",
      "X-Auth-Roles": "a,b%2Cc",
      "X-Auth-Scopes": "x%20y",
      "X-Email-Claim": "a@x.test",
    });
    expect(tokenHeaders(verified, config.claimHeaders)).toEqual(tokenHeaders(verified, config.claimHeaders));
  });

  it("forwardHeaders: the client's identity, foreign identity, re-routing and hop-by-hop headers out, the identity headers in", () => {
    const incoming = new Headers({
      "X-Auth-Subject": "root",
      "X-Forwarded-User": "root",
      "X-Original-URL": "/admin",
      Connection: "keep-alive, Upgrade",
      Upgrade: "websocket",
      "Keep-Alive": "5",
      "X-Email-Claim": "ceo@x.test",
      Accept: "application/json",
    });
    const out = forwardHeaders(incoming, config, [["X-Auth-Subject", "alice"]]);
    expect(Object.fromEntries(out)).toEqual({
      accept: "application/json",
      upgrade: "websocket",
      "x-auth-subject": "alice",
    });
  });
});

// Token verification through the Worker: every rule of the contract and the classic JWT attacks.
import { base64url, exportJWK, exportSPKI, importJWK, SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, problemOf, send, world } from "./helpers/app";

afterEach(() => vi.restoreAllMocks());

const enc = (value: unknown) => base64url.encode(JSON.stringify(value));
const now = () => Math.floor(Date.now() / 1000);

/** A compact JWS with a chosen header and signature, for attacks jose would refuse to sign. */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ""): string {
  return `${enc(header)}.${enc(payload)}.${signature}`;
}

async function expectInvalid(res: Response, code: string) {
  expect(res.status).toBe(401);
  expect(res.headers.get("WWW-Authenticate")).toMatch(
    /^Bearer realm="gw.test", error="invalid_token", error_description="[^"]+"$/,
  );
  const body = await problemOf(res);
  expect(body.code).toBe(code);
}

describe("valid tokens", () => {
  it("forwards a valid ES256 token with identity headers", async () => {
    const { net, idp, env } = await world();
    const token = await idp.sign({ sub: "alice", scope: "read write", sid: "s1", roles: ["buyer"] });
    const res = await send(env, "/orders/1?x=1", bearer(token));
    expect(res.status).toBe(200);
    const seen = net.originRequests[0]!;
    expect(seen.url).toBe("https://origin.test/orders/1?x=1");
    expect(seen.headers["x-auth-subject"]).toBe("alice");
    expect(seen.headers["x-auth-issuer"]).toBe(idp.issuer);
    expect(seen.headers["x-auth-session"]).toBe("s1");
    expect(seen.headers["x-auth-scopes"]).toBe("read write");
    expect(seen.headers["x-auth-roles"]).toBe("buyer");
  });

  for (const alg of ["RS256", "EdDSA", "PS256", "ES384"]) {
    it(`accepts ${alg} when the issuer allows it`, async () => {
      const { idp, env } = await world({}, alg);
      (env.ISSUERS as unknown as Record<string, unknown>[])[0]!.algorithms = [alg];
      const res = await send(env, "/x", bearer(await idp.sign()));
      expect(res.status).toBe(200);
    });
  }

  it("accepts any of several audiences and several issuers", async () => {
    const a = await world();
    const b = a.net.issuer("https://second-idp.test");
    await b.addKey("RS256");
    const environment = {
      ...a.env,
      ISSUERS: [
        { issuer: a.idp.issuer, jwksUri: a.idp.jwksUri, audiences: ["api", "other"] },
        { issuer: b.issuer, jwksUri: b.jwksUri, audiences: ["second"] },
      ],
    } as Env;
    expect((await send(environment, "/x", bearer(await a.idp.sign({ aud: ["nope", "other"] })))).status).toBe(200);
    expect((await send(environment, "/x", bearer(await b.sign({ aud: "second" })))).status).toBe(200);
    await expectInvalid(await send(environment, "/x", bearer(await b.sign({ aud: "api" }))), "audience_mismatch");
  });
});

describe("claims and time", () => {
  it("refuses an expired token, and accepts one within the clock tolerance", async () => {
    const { idp, env } = await world({ CLOCK_TOLERANCE_SECONDS: 30 });
    await expectInvalid(
      await send(env, "/x", bearer(await idp.sign({ iat: now() - 600, exp: now() - 31 }))),
      "token_expired",
    );
    expect((await send(env, "/x", bearer(await idp.sign({ iat: now() - 600, exp: now() - 20 })))).status).toBe(200);
  });

  it("refuses a token that is not valid yet, beyond the tolerance", async () => {
    const { idp, env } = await world({ CLOCK_TOLERANCE_SECONDS: 30 });
    await expectInvalid(await send(env, "/x", bearer(await idp.sign({ nbf: now() + 60 }))), "token_not_yet_valid");
    expect((await send(env, "/x", bearer(await idp.sign({ nbf: now() + 20 })))).status).toBe(200);
  });

  it("refuses a token issued in the future", async () => {
    const { idp, env } = await world({ CLOCK_TOLERANCE_SECONDS: 30 });
    await expectInvalid(
      await send(env, "/x", bearer(await idp.sign({ iat: now() + 120, exp: now() + 600 }))),
      "token_issued_in_future",
    );
  });

  it("refuses a token without exp", async () => {
    const { idp, env } = await world();
    await expectInvalid(await send(env, "/x", bearer(await idp.sign({ exp: null }))), "token_claims_invalid");
  });

  it("refuses a token living longer than MAX_TOKEN_LIFETIME_SECONDS", async () => {
    const { idp, env } = await world({ MAX_TOKEN_LIFETIME_SECONDS: 3600 });
    await expectInvalid(
      await send(env, "/x", bearer(await idp.sign({ iat: now(), exp: now() + 3601 }))),
      "token_lifetime_too_long",
    );
    expect((await send(env, "/x", bearer(await idp.sign({ iat: now(), exp: now() + 3600 })))).status).toBe(200);
  });

  // Regression: without iat the lifetime was measured from now, so a token with no iat and a far exp
  // was refused only until its exp came within the cap, then accepted, by which time the sub, sid or
  // jti revocations naming it (kept as long as the cap) could be gone.
  it("refuses a token without iat, or with a non-numeric one, however near its exp", async () => {
    const { idp, env } = await world({ MAX_TOKEN_LIFETIME_SECONDS: 3600 });
    for (const claims of [{ iat: null, exp: now() + 7200 }, { iat: null, exp: now() + 60 }, { iat: String(now()) }]) {
      const res = await send(env, "/x", bearer(await idp.sign(claims)));
      await expectInvalid(res, "token_claims_invalid");
    }
  });

  it("refuses a wrong audience and an unknown issuer", async () => {
    const { idp, env } = await world();
    await expectInvalid(await send(env, "/x", bearer(await idp.sign({ aud: "someone-else" }))), "audience_mismatch");
    await expectInvalid(await send(env, "/x", bearer(await idp.sign({ iss: "https://evil.test" }))), "issuer_unknown");
  });

  it("refuses non-string sub, jti or sid", async () => {
    const { idp, env } = await world();
    for (const claim of ["sub", "jti", "sid"]) {
      await expectInvalid(await send(env, "/x", bearer(await idp.sign({ [claim]: 42 }))), "token_claims_invalid");
    }
  });

  it("refuses a logout token or a security event token presented as an access token", async () => {
    const { idp, env } = await world();
    for (const typ of ["logout+jwt", "secevent+jwt"]) {
      const token = await idp.sign({}, { header: { typ } });
      await expectInvalid(await send(env, "/x", bearer(token)), "token_claims_invalid");
    }
  });
});

describe("malformed requests", () => {
  it("answers a request without a token with a bare challenge", async () => {
    const { env } = await world();
    const res = await send(env, "/x");
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="gw.test"');
    expect((await problemOf(res)).code).toBe("token_missing");
  });

  it("treats another auth scheme as no bearer token", async () => {
    const { env } = await world();
    const res = await send(env, "/x", { headers: { Authorization: "Basic YTpi" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="gw.test"');
  });

  it("refuses junk, a two-part token and duplicate Authorization headers", async () => {
    const { idp, env } = await world();
    await expectInvalid(await send(env, "/x", bearer("not-a-jwt")), "token_malformed");
    await expectInvalid(await send(env, "/x", bearer("aaa.bbb")), "token_malformed");
    await expectInvalid(await send(env, "/x", bearer(`${enc({ alg: "ES256" })}.bm90IGpzb24.sig`)), "token_malformed");
    const token = await idp.sign();
    const headers = new Headers();
    headers.append("Authorization", `Bearer ${token}`);
    headers.append("Authorization", `Bearer ${token}`);
    await expectInvalid(await send(env, "/x", { headers }), "token_malformed");
  });

  it("refuses a token over 8 KiB before parsing it, and never echoes a token", async () => {
    const { idp, env } = await world();
    const big = await idp.sign({ padding: "x".repeat(9000) });
    const res = await send(env, "/x", bearer(big));
    await expectInvalid(res.clone(), "token_too_large");
    const text = (await res.text()) + res.headers.get("WWW-Authenticate");
    expect(text).not.toContain(big.slice(0, 40));
    const small = await idp.sign({ aud: "wrong" });
    const denied = await send(env, "/x", bearer(small));
    const all = (await denied.text()) + JSON.stringify([...denied.headers]);
    for (const part of small.split(".")) expect(all).not.toContain(part);
  });
});

describe("attacks", () => {
  it("refuses alg none in any case, signed or not", async () => {
    const { idp, env } = await world();
    const payload = { iss: idp.issuer, aud: "api", sub: "mallory", iat: now(), exp: now() + 600 };
    for (const alg of ["none", "None", "NONE", "nOnE"]) {
      await expectInvalid(await send(env, "/x", bearer(forge({ alg, typ: "JWT" }, payload))), "algorithm_not_allowed");
      const res = await send(env, "/x", bearer(forge({ alg, kid: idp.keys[0]!.kid }, payload, "c2ln")));
      expect(res.status).toBe(401);
    }
  });

  it("refuses HS256 signed with the issuer's RSA public key as the secret (PEM, bare base64, JWK)", async () => {
    const { net, idp, env } = await world({}, "RS256");
    const published = idp.keys[0]!;
    const jwkPublic = published.publicJwk;
    const pem = await exportSPKI((await importJWK(jwkPublic, "RS256", { extractable: true })) as CryptoKey);
    const bare = pem.replace(/-----[A-Z ]+-----|\s/g, "");
    const secrets = [
      pem,
      bare,
      JSON.stringify(jwkPublic),
      JSON.stringify(await exportJWK((await importJWK(jwkPublic, "RS256", { extractable: true })) as CryptoKey)),
    ];
    for (const secret of secrets) {
      const token = await new SignJWT({ iss: idp.issuer, aud: "api", sub: "mallory", iat: now(), exp: now() + 600 })
        .setProtectedHeader({ alg: "HS256", kid: published.kid })
        .sign(new TextEncoder().encode(secret));
      await expectInvalid(await send(env, "/x", bearer(token)), "algorithm_not_allowed");
    }
    expect(net.originRequests).toHaveLength(0);
  });

  it("refuses an ECDSA signature with r = s = 0 (psychic signatures)", async () => {
    const { idp, env } = await world();
    const payload = { iss: idp.issuer, aud: "api", sub: "mallory", iat: now(), exp: now() + 600 };
    const zero = base64url.encode(new Uint8Array(64));
    await expectInvalid(
      await send(env, "/x", bearer(forge({ alg: "ES256", kid: idp.keys[0]!.kid }, payload, zero))),
      "signature_invalid",
    );
  });

  it("never fetches a jku, x5u, jwk or x5c key, and refuses the token", async () => {
    const { net, idp, env } = await world();
    const attacker = net.issuer("https://attacker.test");
    const key = await attacker.addKey("ES256", idp.keys[0]!.kid + "-evil");
    const headers = [
      { jku: "https://attacker.test/jwks.json" },
      { x5u: "https://attacker.test/cert.pem" },
      { jwk: key.publicJwk },
      { x5c: ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"] },
    ];
    for (const header of headers) {
      const token = await attacker.sign({ iss: idp.issuer }, { header });
      await expectInvalid(await send(env, "/x", bearer(token)), "key_unknown");
    }
    expect(net.fetchesTo("attacker.test")).toBe(0);
    expect(net.originRequests).toHaveLength(0);
  });

  it("refuses a token signed by another key under the issuer's kid", async () => {
    const { idp, env } = await world();
    const rogue = await idp.addKey("ES256", "rogue", false);
    const token = await idp.sign({}, { kid: rogue.kid, header: { kid: idp.keys[0]!.kid } });
    await expectInvalid(await send(env, "/x", bearer(token)), "signature_invalid");
  });

  it("refuses an algorithm outside the issuer's allowlist even with a matching key", async () => {
    const { idp, env } = await world({}, "ES384");
    await expectInvalid(await send(env, "/x", bearer(await idp.sign())), "algorithm_not_allowed");
  });

  it("refuses an unknown crit header", async () => {
    const { idp, env } = await world();
    const key = idp.keys[0]!;
    const token = await new SignJWT({ iss: idp.issuer, aud: "api", sub: "a", iat: now(), exp: now() + 600 })
      .setProtectedHeader({
        alg: "ES256",
        kid: key.kid,
        crit: ["urn:example:must-understand"],
        "urn:example:must-understand": true,
      })
      .sign(key.privateKey, { crit: { "urn:example:must-understand": true } });
    await expectInvalid(await send(env, "/x", bearer(token)), "crit_unsupported");
  });

  it("refuses a signature whose spare base64url bits are set: the same bytes, another token string", async () => {
    const { idp, env } = await world({ POLICY: { routes: [{ path: "/*", revocation: "strict" }] } });
    const token = await idp.sign({ jti: null });
    const signature = token.slice(token.lastIndexOf(".") + 1);
    const bytes = base64url.decode(signature);
    // The last character of a 64-byte signature carries 2 bits and 4 spare ones: every other
    // character with the same 2 bits decodes to the same bytes.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const variants = [...alphabet]
      .map((c) => token.slice(0, -1) + c)
      .filter((t) => t !== token && base64url.decode(t.slice(t.lastIndexOf(".") + 1)).every((b, i) => b === bytes[i]));
    expect(variants).toHaveLength(15);
    // Revoked by its token (no jti: by the token's SHA-256), none of its variants gets through either.
    const revoke = await send(env, "/.auth/revoke", {
      method: "POST",
      headers: { Authorization: "Bearer test-admin-token-0001", "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    expect(revoke.status).toBe(200);
    await expectInvalid(await send(env, "/x", bearer(token)), "token_revoked");
    for (const variant of variants) await expectInvalid(await send(env, "/x", bearer(variant)), "token_malformed");
    // Revoked through one of its variants, the token itself is revoked.
    const other = await idp.sign({ jti: null, sub: "other" });
    const last = other.at(-1)!;
    const twin =
      other.slice(0, -1) +
      [...alphabet].find((c) => c !== last && alphabet.indexOf(c) >> 4 === alphabet.indexOf(last) >> 4)!;
    const byTwin = await send(env, "/.auth/revoke", {
      method: "POST",
      headers: { Authorization: "Bearer test-admin-token-0001", "Content-Type": "application/json" },
      body: JSON.stringify({ token: twin }),
    });
    expect(byTwin.status).toBe(200);
    await expectInvalid(await send(env, "/x", bearer(other)), "token_revoked");
  });

  it("refuses a tampered payload", async () => {
    const { idp, env } = await world();
    const [h, , s] = (await idp.sign({ sub: "alice" })).split(".");
    const tampered = `${h}.${enc({ iss: idp.issuer, aud: "api", sub: "admin", iat: now(), exp: now() + 600 })}.${s}`;
    await expectInvalid(await send(env, "/x", bearer(tampered)), "signature_invalid");
  });
});

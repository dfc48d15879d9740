// DPoP-bound tokens (RFC 9449) through the Worker: every rule of a proof, each with the request that
// breaks it; replay per isolate and across the network; nonces; sender "bound" routes; the cache;
// logout and revocation of bound tokens; forward-auth.
import { reset } from "cloudflare:test";
import { SignJWT, base64url, exportJWK, generateKeyPair, UnsecuredJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, freezeClock, makeEnv, problemOf, send, world, type World } from "./helpers/app";
import { ath, DpopClient, dpop } from "./helpers/dpop";

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await reset();
});

const ADMIN = "test-admin-token-0001";
const POLICY = {
  routes: [
    { path: "/bound/*", sender: "bound" },
    { path: "/once/*", proofReplay: "network" },
    { path: "/strict/*", revocation: "strict" },
    { path: "/public/*", auth: "none" },
  ],
};

interface DpopWorld extends World {
  client: DpopClient;
  token: string;
}

async function dpopWorld(vars: Record<string, unknown> = {}, claims: Record<string, unknown> = {}): Promise<DpopWorld> {
  const w = await world({ POLICY, ...vars });
  const client = await DpopClient.create();
  const token = await w.idp.sign({ cnf: { jkt: client.jkt }, sid: "s-1", ...claims });
  return { ...w, client, token };
}

/** The code of a 401 and its challenge, having checked that nothing reached the origin. */
async function refusal(w: World, res: Response): Promise<{ code: string; challenge: string }> {
  expect(res.status).toBe(401);
  expect(w.net.originRequests).toHaveLength(0);
  return { code: (await problemOf(res)).code as string, challenge: res.headers.get("WWW-Authenticate") ?? "" };
}

describe("a DPoP-bound token", () => {
  it("passes with its proof, and the origin learns the binding", async () => {
    const w = await dpopWorld();
    const res = await send(w.env, "/x?q=1", dpop(w.token, await w.client.proof({ token: w.token })));
    expect(res.status).toBe(200);
    const seen = w.net.originRequests[0]!.headers;
    expect(seen["x-auth-binding"]).toBe("dpop");
    expect(seen["x-auth-key-thumbprint"]).toBe(w.client.jkt);
    expect(seen["dpop"]).toBeDefined(); // FORWARD_AUTHORIZATION keeps the authorization, proof included
  });

  it("does not forward the proof when FORWARD_AUTHORIZATION is false", async () => {
    const w = await dpopWorld({ FORWARD_AUTHORIZATION: false });
    expect((await send(w.env, "/x", dpop(w.token, await w.client.proof({ token: w.token })))).status).toBe(200);
    const seen = w.net.originRequests[0]!.headers;
    expect(seen["dpop"]).toBeUndefined();
    expect(seen["authorization"]).toBeUndefined();
  });

  it("is refused as Bearer, and without a proof, with DPoP challenges", async () => {
    const w = await dpopWorld();
    const asBearer = await refusal(w, await send(w.env, "/x", bearer(w.token)));
    expect(asBearer.code).toBe("token_dpop_bound");
    expect(asBearer.challenge).toMatch(/^DPoP realm="gw\.test", algs="ES256 [^"]+", error="invalid_token"/);
    const asBearerWithProof = await send(
      w.env,
      "/x",
      bearer(w.token, { DPoP: await w.client.proof({ token: w.token }) }),
    );
    expect((await refusal(w, asBearerWithProof)).code).toBe("token_dpop_bound");
    const noProof = await refusal(w, await send(w.env, "/x", { headers: { Authorization: `DPoP ${w.token}` } }));
    expect(noProof.code).toBe("dpop_proof_invalid");
    expect(noProof.challenge).toMatch(/error="invalid_dpop_proof"/);
  });

  it("is refused for each broken rule of its proof", async () => {
    const w = await dpopWorld();
    const other = await DpopClient.create();
    const now = Math.floor(Date.now() / 1000);
    const hmacKey = new TextEncoder().encode("k".repeat(32));
    const { privateKey: otherPrivate } = await generateKeyPair("ES256", { extractable: true });
    const privateJwk = await exportJWK(w.client.privateKey);
    const broken: [string, string | Promise<string>][] = [
      ["another method", w.client.proof({ token: w.token, method: "POST" })],
      ["lower-case method", w.client.proof({ token: w.token, method: "get" })],
      ["htu with a query", w.client.proof({ token: w.token, url: "https://gw.test/x?q=1" })],
      ["htu with a fragment", w.client.proof({ token: w.token, url: "https://gw.test/x#f" })],
      ["htu of another host", w.client.proof({ token: w.token, url: "https://other.test/x" })],
      ["htu of another path", w.client.proof({ token: w.token, url: "https://gw.test/y" })],
      ["htu of another scheme", w.client.proof({ token: w.token, url: "http://gw.test/x" })],
      ["an old iat", w.client.proof({ token: w.token, claims: { iat: now - 61 } })],
      ["a future iat", w.client.proof({ token: w.token, claims: { iat: now + 31 } })],
      ["another token's ath", w.client.proof({ token: await w.idp.sign({ cnf: { jkt: w.client.jkt } }) })],
      ["no ath", w.client.proof({ token: null })],
      ["another client's key", other.proof({ token: w.token })],
      ["a signature by another key", w.client.proof({ token: w.token }).then((p) => resign(p, otherPrivate))],
      ["a jwk with its private part", w.client.proof({ token: w.token, header: { jwk: privateJwk } })],
      ["no jwk", w.client.proof({ token: w.token, header: { jwk: undefined } })],
      ["typ JWT", w.client.proof({ token: w.token, header: { typ: "JWT" } })],
      ["no typ", w.client.proof({ token: w.token, header: { typ: undefined } })],
      ["no jti", w.client.proof({ token: w.token, claims: { jti: null } })],
      ["a jti too long", w.client.proof({ token: w.token, claims: { jti: "j".repeat(257) } })],
      ["no htm", w.client.proof({ token: w.token, claims: { htm: null } })],
      ["no htu", w.client.proof({ token: w.token, claims: { htu: null } })],
      ["no iat", w.client.proof({ token: w.token, claims: { iat: null } })],
      ["a string iat", w.client.proof({ token: w.token, claims: { iat: String(now) } })],
      ["an expired exp", w.client.proof({ token: w.token, claims: { exp: now - 60 } })],
      ["a number nonce", w.client.proof({ token: w.token, claims: { nonce: 7 } })],
      [
        "HS256",
        new SignJWT({ jti: "h", htm: "GET", htu: "https://gw.test/x", iat: now })
          // jose's types forbid a secret jwk in a header; a hostile client is not bound by them.
          .setProtectedHeader({
            typ: "dpop+jwt",
            alg: "HS256",
            jwk: { kty: "oct", k: base64url.encode(hmacKey) } as object,
          })
          .sign(hmacKey),
      ],
      [
        "none",
        new UnsecuredJWT({ jti: "n", htm: "GET", htu: "https://gw.test/x", iat: now })
          .encode()
          .replace(
            /^[^.]+/,
            base64url.encode(JSON.stringify({ alg: "none", typ: "dpop+jwt", jwk: w.client.publicJwk })),
          ),
      ],
      ["an algorithm the issuer does not allow", fromOtherAlg(w)],
      ["larger than 4 KiB", w.client.proof({ token: w.token, claims: { pad: "p".repeat(4096) } })],
      ["not a JWS", "not-a-jws"],
    ];
    for (const [what, proof] of broken) {
      const res = await send(w.env, "/x", dpop(w.token, await proof));
      const { code, challenge } = await refusal(w, res);
      expect(code, what).toBe("dpop_proof_invalid");
      expect(challenge, what).toMatch(/^DPoP realm="gw\.test", algs="[^"]+", error="invalid_dpop_proof"/);
    }
  });

  it("is refused with two DPoP headers", async () => {
    const w = await dpopWorld();
    const headers = new Headers({ Authorization: `DPoP ${w.token}` });
    headers.append("DPoP", await w.client.proof({ token: w.token }));
    headers.append("DPoP", await w.client.proof({ token: w.token }));
    const { code } = await refusal(w, await send(w.env, "/x", { headers }));
    expect(code).toBe("dpop_proof_invalid");
  });

  it("accepts a proof once per isolate; a replay is refused, a new proof passes", async () => {
    const w = await dpopWorld();
    const proof = await w.client.proof({ token: w.token });
    expect((await send(w.env, "/x", dpop(w.token, proof))).status).toBe(200);
    const replay = await send(w.env, "/x", dpop(w.token, proof));
    expect(replay.status).toBe(401);
    expect((await problemOf(replay)).code).toBe("dpop_proof_replayed");
    expect(replay.headers.get("WWW-Authenticate")).toMatch(/error="invalid_dpop_proof"/);
    expect((await send(w.env, "/x", dpop(w.token, await w.client.proof({ token: w.token })))).status).toBe(200);
  });

  it("never skips its proof when its verification comes from the cache", async () => {
    const w = await dpopWorld();
    expect((await send(w.env, "/x", dpop(w.token, await w.client.proof({ token: w.token })))).status).toBe(200);
    // The same token again, so the verified-token cache answers: still no pass without a proof of the key.
    expect((await send(w.env, "/x", bearer(w.token))).status).toBe(401);
    expect((await send(w.env, "/x", { headers: { Authorization: `DPoP ${w.token}` } })).status).toBe(401);
    expect(
      (await send(w.env, "/x", dpop(w.token, await (await DpopClient.create()).proof({ token: w.token })))).status,
    ).toBe(401);
  });

  it("keeps its proven key for the next proofs, and nothing else passes for it", async () => {
    const w = await dpopWorld();
    for (let i = 0; i < 3; i++)
      expect((await send(w.env, "/x", dpop(w.token, await w.client.proof({ token: w.token })))).status).toBe(200);
    // The proven key's jwk with another algorithm: jose still holds the key to the header's alg.
    // Signed with SHA-384 by the P-256 key, so the signature holds and only the key's curve says no.
    const input = [
      base64url.encode(JSON.stringify({ typ: "dpop+jwt", alg: "ES384", jwk: w.client.publicJwk })),
      base64url.encode(
        JSON.stringify({
          jti: "es384",
          htm: "GET",
          htu: "https://gw.test/x",
          iat: Math.floor(Date.now() / 1000),
          ath: await ath(w.token),
        }),
      ),
    ].join(".");
    const signature = await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-384" },
      w.client.privateKey,
      new TextEncoder().encode(input),
    );
    const es384 = `${input}.${base64url.encode(new Uint8Array(signature))}`;
    expect((await problemOf(await send(w.env, "/x", dpop(w.token, es384)))).detail).toMatch(/malformed|algorithm/);
    // A private member added to the proven jwk makes it another jwk: EmbeddedJWK refuses it again.
    const withD = await w.client.proof({ token: w.token, header: { jwk: { ...w.client.publicJwk, d: "AAAA" } } });
    expect((await problemOf(await send(w.env, "/x", dpop(w.token, withD)))).code).toBe("dpop_proof_invalid");
    expect(w.net.originRequests).toHaveLength(3);
  });

  it("is refused with the DPoP scheme when the token is not DPoP-bound", async () => {
    const w = await dpopWorld();
    const plain = await w.idp.sign();
    const res = await send(w.env, "/x", dpop(plain, await w.client.proof({ token: plain })));
    expect((await refusal(w, res)).code).toBe("token_not_dpop_bound");
  });

  it("is refused when its cnf cannot be read", async () => {
    const w = await dpopWorld();
    for (const cnf of [
      { jkt: "short" },
      { jkt: 1 },
      { jwk: {} },
      {},
      "jkt",
      { jkt: w.client.jkt, "x5t#S256": w.client.jkt },
    ]) {
      const token = await w.idp.sign({ cnf });
      const res = await send(w.env, "/x", dpop(token, await w.client.proof({ token })));
      expect((await refusal(w, res)).code, JSON.stringify(cnf)).toBe("token_claims_invalid");
    }
  });
});

describe('routes with sender "bound"', () => {
  it("refuse a bearer token with a DPoP challenge, and pass a bound one", async () => {
    const w = await dpopWorld();
    const plain = await w.idp.sign();
    const res = await send(w.env, "/bound/x", bearer(plain));
    const { code, challenge } = await refusal(w, res);
    expect(code).toBe("sender_unbound");
    expect(challenge).toMatch(/^DPoP realm="gw\.test", algs="[^"]+", error="invalid_token"/);
    // No token at all: both schemes offered (a certificate-bound token is sent as Bearer).
    const none = await send(w.env, "/bound/x");
    expect((await refusal(w, none)).challenge).toMatch(/^Bearer realm="gw\.test", DPoP realm="gw\.test", algs="ES256 /);
    // The same bearer token elsewhere, and a public route with no token at all, pass.
    expect((await send(w.env, "/x", bearer(plain))).status).toBe(200);
    expect((await send(w.env, "/public/x")).status).toBe(200);
    const proof = await w.client.proof({ token: w.token, url: "https://gw.test/bound/x" });
    expect((await send(w.env, "/bound/x", dpop(w.token, proof))).status).toBe(200);
  });

  it("cannot be written on a route without auth", async () => {
    const res = await send(makeEnv({ POLICY: { routes: [{ path: "/x", auth: "none", sender: "bound" }] } }), "/x");
    expect(res.status).toBe(500);
    expect((await problemOf(res)).detail).toMatch(/POLICY/);
  });
});

describe("DPoP nonces", () => {
  const SECRET = "a-dpop-nonce-secret-of-40-characters-000";
  const vars = { SENDER_CONSTRAINTS: { dpop: { nonce: true, nonceLifetimeSeconds: 60 } }, DPOP_NONCE_SECRET: SECRET };

  it("are handed out on use_dpop_nonce, accepted for one to two windows, renewed on an answer", async () => {
    const clock = freezeClock();
    const w = await dpopWorld(vars);
    const first = await send(w.env, "/x", dpop(w.token, await w.client.proof({ token: w.token })));
    const { code, challenge } = await refusal(w, first);
    expect(code).toBe("dpop_nonce_required");
    expect(challenge).toMatch(/error="use_dpop_nonce"/);
    const nonce = first.headers.get("DPoP-Nonce")!;
    expect(nonce).toMatch(/^[\x21\x23-\x5b\x5d-\x7e]+$/); // RFC 9449 section 8.1's NQCHAR
    const withNonce = (n: string) => w.client.proof({ token: w.token, claims: { nonce: n } });
    const ok = await send(w.env, "/x", dpop(w.token, await withNonce(nonce)));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("DPoP-Nonce")).toBeNull(); // still current
    // The next window: still good, and the answer carries the new one.
    clock.advance(60);
    const renewed = await send(w.env, "/x", dpop(w.token, await withNonce(nonce)));
    expect(renewed.status).toBe(200);
    const next = renewed.headers.get("DPoP-Nonce")!;
    expect(next).not.toBe(nonce);
    // Two windows on, the first is refused and the new one passes.
    clock.advance(60);
    expect((await problemOf(await send(w.env, "/x", dpop(w.token, await withNonce(nonce))))).code).toBe(
      "dpop_nonce_required",
    );
    expect((await send(w.env, "/x", dpop(w.token, await withNonce(next)))).status).toBe(200);
  });

  it("are renewed on a logout's 204 too", async () => {
    const clock = freezeClock();
    const w = await dpopWorld(vars);
    const first = await send(w.env, "/x", dpop(w.token, await w.client.proof({ token: w.token })));
    const nonce = first.headers.get("DPoP-Nonce")!;
    clock.advance(60);
    const proof = await w.client.proof({
      token: w.token,
      method: "POST",
      url: "https://gw.test/.auth/logout",
      claims: { nonce },
    });
    const out = await send(w.env, "/.auth/logout", { method: "POST", ...dpop(w.token, proof) });
    expect(out.status).toBe(204);
    expect(out.headers.get("DPoP-Nonce")).toMatch(/./);
    expect(out.headers.get("DPoP-Nonce")).not.toBe(nonce);
  });

  it("are the same in every isolate, and refuse one made up or made with another secret", async () => {
    const w = await dpopWorld(vars);
    const nonceOf = async (env: Env) =>
      (await send(env, "/x", dpop(w.token, await w.client.proof({ token: w.token })))).headers.get("DPoP-Nonce");
    const nonce = await nonceOf(w.env);
    expect(await nonceOf(makeEnv({ ...w.env, ...vars }))).toBe(nonce);
    const otherSecret = await nonceOf(makeEnv({ ...w.env, DPOP_NONCE_SECRET: SECRET.replace("a", "b") }));
    for (const forged of [otherSecret!, nonce!.replace(/.$/, (c) => (c === "A" ? "B" : "A")), "made-up"]) {
      const res = await send(
        w.env,
        "/x",
        dpop(w.token, await w.client.proof({ token: w.token, claims: { nonce: forged } })),
      );
      expect((await problemOf(res)).code).toBe("dpop_nonce_required");
    }
  });

  it("need a secret of 32 characters or more", async () => {
    for (const secret of [undefined, "short"]) {
      const res = await send(makeEnv({ ...vars, DPOP_NONCE_SECRET: secret }), "/x");
      expect(res.status).toBe(500);
      expect(JSON.stringify((await problemOf(res)).errors)).toMatch(/DPOP_NONCE_SECRET/);
    }
  });
});

describe('network-wide replay (proofReplay "network")', () => {
  it("refuses a proof replayed in another isolate; per-isolate routes only refuse it in the same one", async () => {
    const w = await dpopWorld();
    // Another isolate: its own env object, so its own Config, verified tokens and remembered proofs.
    const elsewhere = makeEnv({ ...w.env });
    const once = await w.client.proof({ token: w.token, url: "https://gw.test/once/x" });
    expect((await send(w.env, "/once/x", dpop(w.token, once))).status).toBe(200);
    const replay = await send(elsewhere, "/once/x", dpop(w.token, once));
    expect(replay.status).toBe(401);
    expect((await problemOf(replay)).code).toBe("dpop_proof_replayed");
    const proof = await w.client.proof({ token: w.token });
    expect((await send(w.env, "/x", dpop(w.token, proof))).status).toBe(200);
    expect((await send(elsewhere, "/x", dpop(w.token, proof))).status).toBe(200);
  });

  it("answers 503 when the key's replay object cannot answer, never a pass", async () => {
    const w = await dpopWorld();
    const failing = {
      idFromName: (name: string) => name,
      get: () => ({ claim: () => Promise.reject(new Error("overloaded")) }),
    };
    const env = makeEnv({ ...w.env, DPOP_REPLAY: failing });
    const res = await send(
      env,
      "/once/x",
      dpop(w.token, await w.client.proof({ token: w.token, url: "https://gw.test/once/x" })),
    );
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).not.toBeNull();
    expect((await problemOf(res)).code).toBe("dpop_replay_unavailable");
    expect(w.net.originRequests).toHaveLength(0);
  });

  it("needs the DPOP_REPLAY binding", async () => {
    const w = await dpopWorld();
    const res = await send(makeEnv({ ...w.env, DPOP_REPLAY: undefined }), "/x");
    expect(res.status).toBe(500);
    expect(JSON.stringify((await problemOf(res)).errors)).toMatch(/DPOP_REPLAY/);
  });
});

describe("logout and revocation of DPoP-bound tokens", () => {
  const LOGOUT = "https://gw.test/.auth/logout";

  it("logs out with its proof, not without one", async () => {
    const w = await dpopWorld();
    const noProof = await send(w.env, "/.auth/logout", { method: "POST", ...bearer(w.token) });
    expect(noProof.status).toBe(401);
    expect((await problemOf(noProof)).code).toBe("token_dpop_bound");
    const wrongUrl = await w.client.proof({ token: w.token, method: "POST", url: "https://gw.test/x" });
    expect((await send(w.env, "/.auth/logout", { method: "POST", ...dpop(w.token, wrongUrl) })).status).toBe(401);
    const proof = await w.client.proof({ token: w.token, method: "POST", url: LOGOUT });
    expect((await send(w.env, "/.auth/logout?scope=session", { method: "POST", ...dpop(w.token, proof) })).status).toBe(
      204,
    );
    const after = await send(
      w.env,
      "/strict/x",
      dpop(w.token, await w.client.proof({ token: w.token, url: "https://gw.test/strict/x" })),
    );
    expect(after.status).toBe(401);
    expect((await problemOf(after)).code).toBe("token_revoked");
  });

  it("is revoked by jti, token, sub and sid like any token", async () => {
    const w = await dpopWorld();
    const revoke = (body: unknown) =>
      send(w.env, "/.auth/revoke", {
        method: "POST",
        headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    const call = async (token: string) =>
      send(w.env, "/strict/x", dpop(token, await w.client.proof({ token, url: "https://gw.test/strict/x" })));
    const bound = (claims: Record<string, unknown>) => w.idp.sign({ cnf: { jkt: w.client.jkt }, ...claims });
    const byJti = await bound({ jti: "j-1" });
    const byToken = await bound({ jti: null });
    const bySub = await bound({ sub: "bob" });
    const bySid = await bound({ sid: "s-9" });
    for (const t of [byJti, byToken, bySub, bySid]) expect((await call(t)).status).toBe(200);
    const exp = Math.floor(Date.now() / 1000) + 600;
    for (const body of [{ jti: "j-1", exp }, { token: byToken }, { sub: "bob" }, { sid: "s-9" }])
      expect((await revoke(body)).status).toBe(200);
    for (const t of [byJti, byToken, bySub, bySid]) {
      const res = await call(t);
      expect(res.status).toBe(401);
      expect((await problemOf(res)).code).toBe("token_revoked");
    }
  });
});

describe("forward-auth", () => {
  it("checks the proof against the URL the proxy describes", async () => {
    const w = await dpopWorld();
    const forwarded = {
      "X-Forwarded-Proto": "https",
      "X-Forwarded-Host": "api.public",
      "X-Forwarded-Uri": "/orders/7",
    };
    const proof = await w.client.proof({ token: w.token, url: "https://api.public/orders/7" });
    const ok = await send(w.env, "/.auth/check", dpop(w.token, proof, forwarded));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("X-Auth-Binding")).toBe("dpop");
    expect(ok.headers.get("X-Auth-Key-Thumbprint")).toBe(w.client.jkt);
    // A proof for the authorizer's own URL is not one for the request the proxy judges.
    const own = await w.client.proof({ token: w.token, url: "https://gw.test/.auth/check" });
    expect((await problemOf(await send(w.env, "/.auth/check", dpop(w.token, own, forwarded)))).code).toBe(
      "dpop_proof_invalid",
    );
    const twoHosts = await send(
      w.env,
      "/.auth/check",
      dpop(w.token, proof, { ...forwarded, "X-Forwarded-Host": "a.test, api.public" }),
    );
    expect(twoHosts.status).toBe(400);
  });

  it("without X-Forwarded-Host, takes the check request's own scheme and host", async () => {
    const w = await dpopWorld();
    const proof = await w.client.proof({ token: w.token, url: "https://gw.test/orders/7" });
    const res = await send(w.env, "/.auth/check", dpop(w.token, proof, { "X-Original-URI": "/orders/7" }));
    expect(res.status).toBe(200);
  });
});

/** The same header and payload signed by another key (the header still names the client's). */
async function resign(proof: string, key: CryptoKey): Promise<string> {
  const [h, p] = proof.split(".");
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, new TextEncoder().encode(`${h}.${p}`)),
  );
  return `${h}.${p}.${base64url.encode(signature)}`;
}

/** A proof signed with ES512, which the issuer's dpopAlgorithms do not list here. */
async function fromOtherAlg(w: DpopWorld): Promise<string> {
  const client = await DpopClient.create("ES512");
  const env = w.env as unknown as { ISSUERS: { dpopAlgorithms?: string[] }[] };
  expect(env.ISSUERS[0]!.dpopAlgorithms).toBeUndefined(); // the default list, without ES512
  // Refused for its algorithm before its key is looked at.
  return client.proof({ token: w.token });
}

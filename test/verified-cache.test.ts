// The per-isolate cache of verified tokens: a repeated token skips the signature check, and nothing
// else changes: expiry, a key leaving the JWKS, revocation and policy still hold on every request.
import { reset } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { VerifiedTokens } from "../src/token/verified-cache";
import type { VerifiedToken } from "../src/token/verify";
import { bearer, freezeClock, problemOf, send, world } from "./helpers/app";

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await reset();
});

describe("a repeated token", () => {
  it("is verified once, then answered from the cache", async () => {
    const { net, idp, env } = await world();
    const token = await idp.sign({ sub: "alice" });
    const verify = vi.spyOn(crypto.subtle, "verify");
    for (let i = 0; i < 5; i++) expect((await send(env, "/x", bearer(token))).status).toBe(200);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(net.originRequests.map((r) => r.headers["x-auth-subject"])).toEqual(Array(5).fill("alice"));
  });

  it("with one byte changed is verified anew, and fails", async () => {
    const { idp, env } = await world();
    const token = await idp.sign();
    expect((await send(env, "/x", bearer(token))).status).toBe(200);
    const last = token.at(-2) === "A" ? "B" : "A";
    const tampered = token.slice(0, -2) + last + token.slice(-1);
    const res = await send(env, "/x", bearer(tampered));
    expect(res.status).toBe(401);
    expect((await problemOf(res)).code).toBe("signature_invalid");
  });

  it("expires at its exp, with the same tolerance as a fresh verification", async () => {
    const clock = freezeClock();
    const { idp, env } = await world({ CLOCK_TOLERANCE_SECONDS: 30 });
    const exp = Math.floor(Date.now() / 1000) + 60;
    const token = await idp.sign({ exp });
    expect((await send(env, "/x", bearer(token))).status).toBe(200);
    clock.advance(60 + 29);
    expect((await send(env, "/x", bearer(token))).status).toBe(200);
    clock.advance(1);
    const res = await send(env, "/x", bearer(token));
    expect(res.status).toBe(401);
    expect((await problemOf(res)).code).toBe("token_expired");
  });

  it("stops passing once its key has left the issuer's JWKS", async () => {
    const clock = freezeClock();
    const { idp, env } = await world();
    const token = await idp.sign();
    expect((await send(env, "/x", bearer(token))).status).toBe(200);
    await idp.addKey("ES256", "next");
    idp.removeKey(idp.keys[0]!.kid);
    clock.advance(301); // past the JWKS's max-age: the next request refreshes it in the background
    expect((await send(env, "/x", bearer(token))).status).toBe(200); // the stale set still serves this one
    const res = await send(env, "/x", bearer(token));
    expect(res.status).toBe(401);
    expect((await problemOf(res)).code).toBe("key_unknown");
    expect((await send(env, "/x", bearer(await idp.sign({}, { kid: "next" })))).status).toBe(200);
  });

  it("is still checked against revocations and the route's policy on every request", async () => {
    const routes = [
      { path: "/strict/*", revocation: "strict" },
      { path: "/admin/*", require: { scopes: ["admin"] } },
      { path: "/read/*", require: { scopes: ["read"] } },
    ];
    const { idp, env } = await world({ POLICY: { routes } });
    const token = await idp.sign({ jti: "cached-then-revoked", scope: "read" });
    expect((await send(env, "/strict/a", bearer(token))).status).toBe(200);
    // A rule met is remembered per rule: meeting one never answers for another.
    for (let i = 0; i < 2; i++) {
      expect((await send(env, "/read/a", bearer(token))).status).toBe(200);
      expect((await send(env, "/admin/a", bearer(token))).status).toBe(403);
    }
    const revoke = await send(env, "/.auth/revoke", {
      method: "POST",
      headers: { Authorization: "Bearer test-admin-token-0001", "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    expect(revoke.status).toBe(200);
    const res = await send(env, "/strict/a", bearer(token));
    expect(res.status).toBe(401);
    expect((await problemOf(res)).code).toBe("token_revoked");
  });
});

describe("VerifiedTokens", () => {
  const entry = (exp: number) => ({ claims: { exp } }) as unknown as VerifiedToken;

  it("holds at most its entry bound, dropping the least recently used first", () => {
    const cache = new VerifiedTokens(3, 1 << 20);
    for (const t of ["a", "b", "c", "d"]) cache.add(t, entry(100));
    expect(cache.size).toBe(3);
    expect(cache.get("a", 0, 0)).toBeUndefined();
    expect(cache.get("d", 0, 0)).toBeDefined();
    // "b" in use survives a stream of one-off tokens that pushes out "c" and "d".
    expect(cache.get("b", 0, 0)).toBeDefined();
    for (const t of ["e", "f"]) cache.add(t, entry(100));
    expect(cache.get("b", 0, 0)).toBeDefined();
    expect(cache.get("c", 0, 0)).toBeUndefined();
    expect(cache.get("d", 0, 0)).toBeUndefined();
  });

  it("keeps a token hit at least once per half its size through a long stream of one-off tokens", () => {
    for (const every of [1, 40, 49, 50]) {
      const cache = new VerifiedTokens(100, 1 << 20);
      cache.add("hot", entry(100));
      cache.add("cold", entry(100));
      for (let i = 1; i <= 2_000; i++) {
        cache.add(`one-off-${i}`, entry(100));
        if (i % every === 0) expect(cache.get("hot", 0, 0), `every ${every}, after ${i}`).toBeDefined();
      }
      expect(cache.get("cold", 0, 0)).toBeUndefined();
      expect(cache.size).toBe(100);
    }
  });

  it("holds at most its byte bound", () => {
    // Each counts 20 x 3 + 1024 = 1 084 bytes: the token, its claims, its headers and its record.
    const cache = new VerifiedTokens(1000, 2200);
    for (let i = 0; i < 10; i++) cache.add(`${i}`.padEnd(20, "x"), entry(100));
    expect(cache.size).toBe(2);
  });

  it("drops an expired entry when asked for it", () => {
    const cache = new VerifiedTokens();
    cache.add("t", entry(100));
    expect(cache.get("t", 99, 0)).toBeDefined();
    expect(cache.get("t", 130, 30)).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});

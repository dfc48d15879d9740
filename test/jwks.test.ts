// The JWKS cache: fetched once, imported once, refetched on rotation under a cooldown, shared by
// concurrent requests, served stale while the issuer is down, and bounded in time and size.
import { afterEach, describe, expect, it, vi } from "vitest";
import { IssuerKeys } from "../src/token/jwks";
import { bearer, freezeClock, makeEnv, problemOf, send, uniqueIssuer, world } from "./helpers/app";
import { FakeNetwork } from "./helpers/network";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("caching", () => {
  it("fetches the key set once and serves every later request from memory, importing each key once", async () => {
    const { idp, env } = await world();
    const imports = vi.spyOn(crypto.subtle, "importKey");
    const token = await idp.sign();
    for (let i = 0; i < 10; i++) expect((await send(env, "/x", bearer(token))).status).toBe(200);
    expect(idp.jwksFetches).toBe(1);
    expect(imports).toHaveBeenCalledTimes(1);
  });

  it("shares one fetch between concurrent first requests (single flight)", async () => {
    const { idp, env } = await world();
    const token = await idp.sign();
    const results = await Promise.all(Array.from({ length: 20 }, () => send(env, "/x", bearer(token))));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(idp.jwksFetches).toBe(1);
  });

  it("discovers the JWKS through /.well-known/openid-configuration when jwksUri is absent", async () => {
    const { idp, env } = await world();
    const discovered = makeEnv({ ISSUERS: [{ issuer: idp.issuer, audiences: ["api"] }] });
    expect((await send(discovered, "/x", bearer(await idp.sign()))).status).toBe(200);
    expect(idp.discoveryFetches).toBe(1);
    expect(idp.jwksFetches).toBe(1);
    void env;
  });

  it("refuses a discovery document that names another issuer", async () => {
    const net = new FakeNetwork();
    const idp = net.issuer(uniqueIssuer());
    await idp.addKey();
    net.install();
    const liar = net.issuer(uniqueIssuer());
    liar.handle = async () => Response.json({ issuer: "https://someone-else.test", jwks_uri: idp.jwksUri });
    const environment = makeEnv({ ISSUERS: [{ issuer: liar.issuer, audiences: ["api"] }] });
    const res = await send(environment, "/x", bearer(await idp.sign({ iss: liar.issuer })));
    expect(res.status).toBe(503);
  });

  it("shares the key set with a cold isolate through the Cache API", async () => {
    const { net, idp } = await world();
    const config = {
      issuer: idp.issuer,
      jwksUri: idp.jwksUri,
      audiences: ["api"],
      algorithms: ["ES256" as const],
      dpopAlgorithms: ["ES256" as const],
    };
    const header = { alg: "ES256", kid: idp.keys[0]!.kid };
    await new IssuerKeys(config).keyFor(header);
    expect(idp.jwksFetches).toBe(1);
    const coldIsolate = new IssuerKeys(config);
    await coldIsolate.keyFor(header);
    expect(idp.jwksFetches).toBe(1);
    void net;
  });
});

describe("rotation and the refetch cooldown", () => {
  it("accepts a key rotated in, after one refetch, without a restart", async () => {
    const clock = freezeClock();
    const { idp, env } = await world();
    expect((await send(env, "/x", bearer(await idp.sign()))).status).toBe(200);
    const next = await idp.addKey("ES256", "rotated-in");
    clock.advance(6);
    expect((await send(env, "/x", bearer(await idp.sign({}, { kid: next.kid })))).status).toBe(200);
    expect(idp.jwksFetches).toBe(2);
  });

  it("lets a flood of unknown kids cause at most one fetch per cooldown", async () => {
    const clock = freezeClock();
    const { idp, env } = await world();
    const rogue = await idp.addKey("ES256", "rogue", false);
    expect((await send(env, "/x", bearer(await idp.sign()))).status).toBe(200);
    clock.advance(6);
    const flood = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        idp.sign({}, { kid: rogue.kid, header: { kid: `made-up-${i}` } }).then((t) => send(env, "/x", bearer(t))),
      ),
    );
    expect(new Set(flood.map((r) => r.status))).toEqual(new Set([401]));
    expect(idp.jwksFetches).toBe(2);
    for (let i = 0; i < 20; i++)
      await send(env, "/x", bearer(await idp.sign({}, { kid: rogue.kid, header: { kid: `again-${i}` } })));
    expect(idp.jwksFetches).toBe(2);
    clock.advance(6);
    await send(env, "/x", bearer(await idp.sign({}, { kid: rogue.kid, header: { kid: "after-cooldown" } })));
    expect(idp.jwksFetches).toBe(3);
  });

  it("drops a key that left the JWKS once the set is refreshed", async () => {
    const clock = freezeClock();
    const { idp, env } = await world();
    await idp.addKey("ES256", "second");
    const old = await idp.sign();
    expect((await send(env, "/x", bearer(old))).status).toBe(200);
    idp.removeKey(idp.keys[0]!.kid);
    clock.advance(301); // past max-age=300: the stale set serves once while it refreshes
    await send(env, "/x", bearer(old));
    const res = await send(env, "/x", bearer(old));
    expect(res.status).toBe(401);
    expect((await problemOf(res)).code).toBe("key_unknown");
    expect((await send(env, "/x", bearer(await idp.sign({}, { kid: "second" })))).status).toBe(200);
  });

  it("never fetches a key set for a token of another issuer, with one issuer or several", async () => {
    for (const several of [false, true]) {
      const { net, idp, env } = await world();
      const stranger = net.issuer(uniqueIssuer());
      await stranger.addKey("ES256", "stranger-key");
      const environment = several
        ? makeEnv({
            ISSUERS: [
              { issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ["api"] },
              { issuer: uniqueIssuer(), jwksUri: idp.jwksUri, audiences: ["api"] },
            ],
          })
        : env;
      // Cold (no key set yet), then warm with the stranger's kid unknown (which would refetch).
      for (const warm of [false, true]) {
        if (warm) expect((await send(environment, "/x", bearer(await idp.sign()))).status).toBe(200);
        const res = await send(environment, "/x", bearer(await stranger.sign({ aud: "api" })));
        expect(res.status).toBe(401);
        expect((await problemOf(res)).code).toBe("issuer_unknown");
        expect(idp.jwksFetches).toBe(warm ? 1 : 0);
        expect(stranger.jwksFetches).toBe(0);
      }
      // Our issuer's kid on another issuer's claims: the signature is checked and the issuer still named.
      const res = await send(environment, "/x", bearer(await idp.sign({ iss: stranger.issuer })));
      expect((await problemOf(res)).code).toBe("issuer_unknown");
      expect(idp.jwksFetches).toBe(1);
    }
  });

  it("honours Cache-Control max-age, clamped to at least 60 s", async () => {
    const clock = freezeClock();
    const { idp, env } = await world();
    idp.maxAgeSeconds = 5;
    const token = await idp.sign();
    await send(env, "/x", bearer(token));
    clock.advance(30);
    await send(env, "/x", bearer(token));
    expect(idp.jwksFetches).toBe(1);
    clock.advance(31);
    await send(env, "/x", bearer(token));
    expect(idp.jwksFetches).toBe(2);
  });

  it("clamps a huge max-age to 24 hours", async () => {
    const clock = freezeClock();
    const { idp, env } = await world();
    idp.maxAgeSeconds = 10 ** 9;
    await send(env, "/x", bearer(await idp.sign()));
    clock.advance(24 * 3600 + 1);
    await send(env, "/x", bearer(await idp.sign()));
    expect(idp.jwksFetches).toBe(2);
  });
});

describe("when the issuer fails", () => {
  it("keeps serving the last good key set while the issuer is down (stale-if-error), then recovers", async () => {
    const clock = freezeClock();
    const { idp, env } = await world();
    const token = () => idp.sign();
    expect((await send(env, "/x", bearer(await token()))).status).toBe(200);
    idp.mode = "down";
    clock.advance(3600);
    for (let i = 0; i < 5; i++) expect((await send(env, "/x", bearer(await token()))).status).toBe(200);
    expect(idp.jwksFetches).toBe(2); // one attempt, then the cooldown
    idp.mode = "ok";
    clock.advance(6);
    expect((await send(env, "/x", bearer(await token()))).status).toBe(200);
    expect(idp.jwksFetches).toBe(3);
  });

  // Regression: a token signed by a key rotated in while the issuer was down got 401 key_unknown,
  // telling its client to throw away a good token; only a set fetched after the rotation can say so.
  it("answers 503, not 401, for a kid it does not hold while the issuer is down; 401 once the issuer answers without it", async () => {
    const clock = freezeClock();
    const { idp, env } = await world();
    expect((await send(env, "/x", bearer(await idp.sign()))).status).toBe(200);
    const rotated = await idp.addKey("ES256", "rotated-while-down");
    idp.mode = "down";
    clock.advance(6);
    const res = await send(env, "/x", bearer(await idp.sign({}, { kid: rotated.kid })));
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("5");
    expect((await problemOf(res)).code).toBe("jwks_unavailable");
    expect((await send(env, "/x", bearer(await idp.sign()))).status).toBe(200); // the held keys still serve
    idp.mode = "ok";
    clock.advance(6);
    expect((await send(env, "/x", bearer(await idp.sign({}, { kid: rotated.kid })))).status).toBe(200);
    const unknown = await send(
      env,
      "/x",
      bearer(await idp.sign({}, { kid: rotated.kid, header: { kid: "never-published" } })),
    );
    expect((await problemOf(unknown)).code).toBe("key_unknown");
  });

  it("answers 503 with Retry-After once the stale set is past its bound", async () => {
    const clock = freezeClock();
    const { idp, env } = await world();
    expect((await send(env, "/x", bearer(await idp.sign()))).status).toBe(200);
    idp.mode = "down";
    clock.advance(300 + 24 * 3600 + 1);
    const res = await send(env, "/x", bearer(await idp.sign()));
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("5");
    expect((await problemOf(res)).code).toBe("jwks_unavailable");
  });

  for (const mode of ["down", "not-found", "garbage", "not-jwks", "huge", "slow"] as const) {
    it(`answers 503 with Retry-After, never 200, when there is no key and the issuer is ${mode}`, async () => {
      const { net, idp, env } = await world();
      idp.mode = mode;
      const started = Date.now();
      const res = await send(env, "/x", bearer(await idp.sign()));
      expect(res.status).toBe(503);
      expect(res.headers.get("Retry-After")).toBe("5");
      expect(Date.now() - started).toBeLessThan(10_000); // bounded: the fetch timeout is 3 s
      expect(net.originRequests).toHaveLength(0);
      const again = await send(env, "/x", bearer(await idp.sign()));
      expect(again.status).toBe(503);
      expect(idp.jwksFetches).toBe(1); // within the cooldown the failing issuer is not asked again
    });
  }
});

// What an outside attack on the authorizer found (issue 21), one class per block: each test failed
// on the code the attack was run against and passes now. The classes generalised over their inputs
// are in the property tests (properties*.test.ts).
import { reset } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, problemOf, send, world, type World } from "./helpers/app";
import { ECDSA_ALGORITHMS, malleate } from "./helpers/jws";
import { FlakyKv } from "./helpers/kv";

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await reset();
});

const ADMIN = { Authorization: "Bearer test-admin-token-0001", "Content-Type": "application/json" };
const POLICY = { routes: [{ path: "/strict/*", revocation: "strict" }] };
const post = (env: Env, path: string, body: unknown, headers: Record<string, string> = ADMIN) =>
  send(env, path, { method: "POST", headers, body: JSON.stringify(body) });

async function codeOf(response: Response): Promise<unknown> {
  return (await problemOf(response)).code;
}

/** A world whose issuer signs with `alg` alone, and whose revocation view starts cold (its own KV wrapper). */
async function coldWorld(vars: Record<string, unknown> = {}, alg = "ES256"): Promise<World> {
  const w = await world(vars, alg);
  const issuers = [{ issuer: w.idp.issuer, jwksUri: w.idp.jwksUri, audiences: ["api"], algorithms: [alg] }];
  return { ...w, env: { ...w.env, ISSUERS: issuers, REVOCATIONS: new FlakyKv().binding() } as Env };
}

describe("a token revoked by its value stays revoked in every valid encoding", () => {
  for (const alg of ECDSA_ALGORITHMS) {
    it(`${alg}: the twin signature (s replaced by n - s) is revoked with the token, on eventual and strict routes and at logout`, async () => {
      const { idp, env } = await coldWorld({ POLICY }, alg);
      const token = await idp.sign({ jti: null, scope: "openid" });
      const twin = malleate(token, alg);
      expect(twin).not.toBe(token);
      const before = await send(env, "/strict/x", bearer(twin)); // a valid signature, as the attacker says
      expect(before.status, JSON.stringify(await before.clone().json())).toBe(200);
      expect((await post(env, "/.auth/revoke", { token })).status).toBe(200);
      for (const path of ["/x", "/strict/x"]) {
        expect(await codeOf(await send(env, path, bearer(token)))).toBe("token_revoked");
        expect(await codeOf(await send(env, path, bearer(twin)))).toBe("token_revoked");
      }
      const logout = await send(env, "/.auth/logout?scope=all", { method: "POST", ...bearer(twin) });
      expect(await codeOf(logout)).toBe("token_revoked");
    });
  }

  it("a token revoked through its twin is revoked itself, and a logout with one revokes the other", async () => {
    const { idp, env } = await coldWorld({ POLICY });
    const token = await idp.sign({ jti: null, sub: "bob" });
    expect((await post(env, "/.auth/revoke", { token: malleate(token, "ES256") })).status).toBe(200);
    expect(await codeOf(await send(env, "/strict/x", bearer(token)))).toBe("token_revoked");
    const other = await idp.sign({ jti: null, sub: "carol" });
    expect((await send(env, "/.auth/logout", { method: "POST", ...bearer(malleate(other, "ES256")) })).status).toBe(204);
    expect(await codeOf(await send(env, "/x", bearer(other)))).toBe("token_revoked");
  });

  it("an Idempotency-Key replays for either encoding of the token it was first used with", async () => {
    const { idp, env } = await world();
    const token = await idp.sign({ jti: null });
    const keyed = { ...ADMIN, "Idempotency-Key": "malleable-1" };
    const first = await post(env, "/.auth/revoke", { token }, keyed);
    const again = await post(env, "/.auth/revoke", { token: malleate(token, "ES256") }, keyed);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(await first.json());
  });
});

describe("a revocation that could never match is refused, not acknowledged", () => {
  it("refuses an iss that is not a configured issuer (a trailing slash included) on every body that names one", async () => {
    const { idp, env } = await world();
    const exp = Math.floor(Date.now() / 1000) + 600;
    const unknown = `${idp.issuer}/`;
    for (const body of [{ sub: "carol", iss: unknown }, { sid: "s-1", iss: unknown }, { jti: "j-1", exp, iss: unknown }]) {
      const response = await post(env, "/.auth/revoke", body);
      expect(response.status).toBe(400);
      const problem = await problemOf(response);
      expect(problem.code).toBe("issuer_not_configured");
      expect(problem.issuers).toEqual([idp.issuer]);
    }
    const foreign = await world();
    const theirs = await foreign.idp.sign({ jti: null });
    expect(await codeOf(await post(env, "/.auth/revoke", { token: theirs }))).toBe("issuer_not_configured");
    // Nothing was stored: the feed is empty.
    const feed = (await (await send(env, "/.auth/revocations", { headers: ADMIN })).json()) as { events: unknown[] };
    expect(feed.events).toEqual([]);
    // The configured spelling, and no iss at all (every issuer), are accepted.
    expect((await post(env, "/.auth/revoke", { sub: "carol", iss: idp.issuer })).status).toBe(200);
    expect((await post(env, "/.auth/revoke", { sub: "carol" })).status).toBe(200);
  });
});

// The classes an outside attack found (test/attacks.test.ts), generalised over their inputs with
// fast-check: every ECDSA algorithm and both encodings of a signature; every spelling of every
// method override, on every method, under rules that do and do not tell the methods apart; header
// names of other gateways' conventions in any case and with "_".
import { reset } from "cloudflare:test";
import fc from "fast-check";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../src/config";
import { selectRule } from "../src/policy";
import { bearer, send, uniqueIssuer, world } from "./helpers/app";
import { ECDSA_ALGORITHMS, malleate } from "./helpers/jws";
import { FlakyKv } from "./helpers/kv";
import type { FakeIssuer } from "./helpers/network";
import { counted, quietDecisionLog } from "./helpers/properties";

quietDecisionLog();
afterEach(() => vi.restoreAllMocks());
afterAll(() => reset());

const ADMIN = { Authorization: "Bearer test-admin-token-0001", "Content-Type": "application/json" };
const HANG_MS = 10_000;

describe("signature malleability", () => {
  it("a jti-less token revoked through either encoding of its signature is denied in both, for every ECDSA algorithm, on eventual and strict routes", async () => {
    // One network, one issuer per algorithm; every run adds a revocation, so the runs stay few and each token distinct.
    const w = await world({ POLICY: { routes: [{ path: "/strict/*", revocation: "strict" }] } });
    const issuers = new Map<string, FakeIssuer>();
    for (const alg of ECDSA_ALGORITHMS) {
      const idp = w.net.issuer(uniqueIssuer());
      await idp.addKey(alg);
      issuers.set(alg, idp);
    }
    const ISSUERS = [...issuers].map(([alg, idp]) => ({
      issuer: idp.issuer,
      jwksUri: idp.jwksUri,
      audiences: ["api"],
      algorithms: [alg],
    }));
    let n = 0;
    await counted("malleated signatures", async (runs) => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...ECDSA_ALGORITHMS),
          fc.boolean(),
          fc.boolean(),
          fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
          async (alg, revokeTwin, strict, sid) => {
            runs.tick();
            // A cold view per run: the eventual route reads KV after the revocation, within the bound.
            const env = { ...w.env, ISSUERS, REVOCATIONS: new FlakyKv().binding() } as Env;
            const token = await issuers
              .get(alg)!
              .sign({ jti: null, sub: `m-${++n}`, ...(sid === undefined ? {} : { sid }) });
            const twin = malleate(token, alg);
            const revoke = await send(env, "/.auth/revoke", {
              method: "POST",
              headers: ADMIN,
              body: JSON.stringify({ token: revokeTwin ? twin : token }),
            });
            expect(revoke.status).toBe(200);
            for (const t of [token, twin])
              expect((await send(env, strict ? "/strict/x" : "/x", bearer(t))).status).toBe(401);
          },
        ),
        { numRuns: 60, timeout: HANG_MS },
      );
    });
  }, 60_000);
});

describe("method overrides", () => {
  const NAMES = ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"];
  /** The name in any case, each "-" possibly "_" (a CGI-style origin reads both alike). */
  const spelling = fc
    .tuple(
      fc.constantFrom(...NAMES),
      fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
      fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
    )
    .map(([name, upper, under]) =>
      [...name].map((c, i) => (c === "-" && under[i] ? "_" : upper[i] ? c.toUpperCase() : c.toLowerCase())).join(""),
    );
  const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
  const POLICY = {
    routes: [
      { path: "/orders/*", methods: ["DELETE"], require: { roles: ["admin"] } },
      { path: "/orders/*", methods: ["GET"], auth: "none" },
      { path: "/orders/*", require: { roles: ["buyer"] } },
    ],
  };
  const parsed = parseConfig({
    ISSUERS: [{ issuer: "https://i.test", jwksUri: "https://i.test/j", audiences: ["a"] }],
    POLICY,
  });
  if (!("config" in parsed)) throw new Error("test policy invalid");
  const rules = parsed.config.rules;

  it("any spelling, any pair of methods, header or _method query: forwarded unchanged only when both methods fall under one rule the caller meets; a '_' spelling never reaches the origin", async () => {
    const w = await world({ POLICY });
    const buyer = await w.idp.sign({ roles: ["buyer"] });
    const seen: Record<number, number> = {};
    await counted("method overrides", async (runs) => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...METHODS),
          fc.constantFrom(...METHODS),
          spelling,
          fc.boolean(),
          fc.boolean(),
          async (wire, asked, name, viaQuery, lower) => {
            runs.tick();
            const before = w.net.originRequests.length;
            const value = lower ? asked.toLowerCase() : asked;
            const headers: Record<string, string> = { Authorization: `Bearer ${buyer}` };
            if (!viaQuery) headers[name] = value;
            const res = await send(w.env, `/orders/1${viaQuery ? `?_method=${value}` : ""}`, { method: wire, headers });
            seen[res.status] = (seen[res.status] ?? 0) + 1;
            const underscored = !viaQuery && name.includes("_");
            // An underscore spelling is removed, not judged; otherwise the two methods' rules must agree.
            const judgedTogether = !underscored && asked !== wire;
            const differs =
              judgedTogether && selectRule(rules, wire, "/orders/1") !== selectRule(rules, asked, "/orders/1");
            const wireRule = selectRule(rules, wire, "/orders/1");
            const admits =
              wireRule !== "reserved" &&
              (wireRule.auth === "none" || !wireRule.require?.roles || wireRule.require.roles.includes("buyer"));
            const want = differs ? 400 : admits ? 200 : 403;
            expect(res.status, `${wire} ${viaQuery ? "?_method" : name}: ${value}`).toBe(want);
            const forwarded = w.net.originRequests.slice(before);
            expect(forwarded).toHaveLength(want === 200 ? 1 : 0);
            if (forwarded[0]) expect(Object.keys(forwarded[0].headers).filter((h) => h.includes("_"))).toEqual([]);
          },
        ),
        { numRuns: 1500, timeout: HANG_MS },
      );
    });
    console.log(`[property]   statuses: ${JSON.stringify(seen)}`);
    expect(Object.keys(seen).sort()).toEqual(["200", "400", "403"]);
  }, 60_000);
});

describe("foreign identity headers", () => {
  const CONVENTIONS = [
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Forwarded-Groups",
    "X-Forwarded-Preferred-Username",
    "Remote-User",
    "X-Remote-User",
    "X-User",
    "X-Original-URL",
    "X-Rewrite-URL",
  ];

  it("any case, any '-' as '_', on public and protected routes: none reaches the origin, other headers do", async () => {
    const w = await world({ POLICY: { routes: [{ path: "/public/*", auth: "none" }] } });
    const token = await w.idp.sign();
    const spelled = fc
      .tuple(
        fc.constantFrom(...CONVENTIONS),
        fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }),
        fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }),
      )
      .map(([name, upper, under]) =>
        [...name].map((c, i) => (c === "-" && under[i] ? "_" : upper[i] ? c.toUpperCase() : c.toLowerCase())).join(""),
      );
    await counted("foreign identity and re-routing headers", async (runs) => {
      await fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(spelled, {
            minLength: 1,
            maxLength: 4,
            comparator: (a, b) => a.toLowerCase() === b.toLowerCase(),
          }),
          fc.boolean(),
          async (names, pub) => {
            runs.tick();
            const before = w.net.originRequests.length;
            const headers: Record<string, string> = {
              "X-Kept": "1",
              ...Object.fromEntries(names.map((n) => [n, "admin"])),
            };
            if (!pub) headers.Authorization = `Bearer ${token}`;
            expect((await send(w.env, pub ? "/public/x" : "/x", { headers })).status).toBe(200);
            const got = w.net.originRequests[before]!.headers;
            expect(got["x-kept"]).toBe("1");
            for (const n of names) expect(got[n.toLowerCase()], n).toBeUndefined();
          },
        ),
        { numRuns: 500, timeout: HANG_MS },
      );
    });
  }, 60_000);
});

// Configuration: every var parsed once, as JSON or a string holding JSON, and a bad one named in a
// 500 problem on every request and in /.auth/health, never echoing its value.
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CONFIG_VARS, parseConfig } from "../src/config";
import { makeEnv, problemOf, send, world } from "./helpers/app";

afterEach(() => vi.restoreAllMocks());

const ISSUERS = [{ issuer: "https://i.test", jwksUri: "https://i.test/jwks", audiences: ["api"] }];
const issuesOf = (vars: Record<string, unknown>) => {
  const r = parseConfig({ ISSUERS, ...vars });
  return "issues" in r ? r.issues : [];
};

describe("parsing", () => {
  it("applies the contract's defaults", () => {
    const r = parseConfig({ ISSUERS });
    if (!("config" in r)) throw new Error("invalid");
    expect(r.config).toMatchObject({
      originUrl: null,
      clockToleranceSeconds: 30,
      rules: [],
      claimHeaders: {},
      forwardAuthorization: true,
      revocationMaxStalenessSeconds: 5,
      maxTokenLifetimeSeconds: 86400,
      clients: [],
      adminTokens: [],
    });
    expect(r.config.issuers[0]!.algorithms).toEqual(["RS256", "ES256", "EdDSA"]);
  });

  it("accepts every var as a JSON value or as a string holding JSON", () => {
    const asValues = {
      ISSUERS,
      CLOCK_TOLERANCE_SECONDS: 10,
      POLICY: { routes: [{ path: "/h", auth: "none" }] },
      CLAIM_HEADERS: { email: "X-Auth-Email" },
      FORWARD_AUTHORIZATION: false,
      REVOCATION_MAX_STALENESS_SECONDS: 2,
      MAX_TOKEN_LIFETIME_SECONDS: 3600,
      CLIENTS: [{ id: "a", keySha256: "0".repeat(64) }],
      ORIGIN_URL: "https://o.test",
    };
    const asStrings = Object.fromEntries(
      Object.entries(asValues).map(([k, v]) => [k, k === "ORIGIN_URL" ? v : JSON.stringify(v)]),
    );
    const a = parseConfig(asValues);
    const b = parseConfig({ ...asStrings, ORIGIN_URL: JSON.stringify("https://o.test") });
    const c = parseConfig(asStrings);
    expect("config" in a && "config" in b && "config" in c).toBe(true);
    if ("config" in a && "config" in b && "config" in c) {
      expect(b.config.forwardAuthorization).toBe(false);
      expect(b.config.maxTokenLifetimeSeconds).toBe(3600);
      expect(c.config.originUrl).toBe("https://o.test");
      expect(a.config.rules[0]!.path).toBe("/h");
    }
  });

  it("names each bad var", () => {
    expect(issuesOf({ ISSUERS: undefined })).toEqual([{ var: "ISSUERS", message: "is required" }]);
    expect(issuesOf({ POLICY: "{not json" })).toEqual([{ var: "POLICY", message: "is not valid JSON" }]);
    expect(issuesOf({ CLOCK_TOLERANCE_SECONDS: "-1" })[0]!.var).toBe("CLOCK_TOLERANCE_SECONDS");
    expect(issuesOf({ ORIGIN_URL: "ftp://x" })[0]!.var).toBe("ORIGIN_URL");
    expect(issuesOf({ ORIGIN_URL: "https://o.test/base?x=1" })[0]!.var).toBe("ORIGIN_URL");
    expect(issuesOf({ FORWARD_AUTHORIZATION: "yes" })[0]!.var).toBe("FORWARD_AUTHORIZATION");
    expect(issuesOf({ CLAIM_HEADERS: { email: "Authorization" } })[0]!.var).toBe("CLAIM_HEADERS");
    expect(issuesOf({ CLAIM_HEADERS: { email: "Bad Header" } })[0]!.var).toBe("CLAIM_HEADERS");
    expect(issuesOf({ CLAIM_HEADERS: { email: "X-Auth-Subject" } })[0]!.var).toBe("CLAIM_HEADERS");
    expect(issuesOf({ CLAIM_HEADERS: { tenant: "x-auth-client" } })[0]!.var).toBe("CLAIM_HEADERS");
    expect(issuesOf({ CLAIM_HEADERS: { email: "X-Auth-Email", mail: "x-auth-email" } })[0]!.message).toContain(
      "mapped once",
    );
    expect(issuesOf({ CLIENTS: [{ id: "a", keySha256: "nothex" }] })[0]!.var).toBe("CLIENTS");
    expect(issuesOf({ MAX_TOKEN_LIFETIME_SECONDS: 0 })[0]!.var).toBe("MAX_TOKEN_LIFETIME_SECONDS");
    expect(issuesOf({ REVOCATION_MAX_STALENESS_SECONDS: 0 })[0]!.var).toBe("REVOCATION_MAX_STALENESS_SECONDS");
  });

  it("refuses HMAC or none in an issuer's algorithms, unknown fields, and discovery without a URL issuer", () => {
    expect(issuesOf({ ISSUERS: [{ ...ISSUERS[0], algorithms: ["HS256"] }] })[0]!.var).toBe("ISSUERS");
    expect(issuesOf({ ISSUERS: [{ ...ISSUERS[0], algorithms: ["none"] }] })[0]!.var).toBe("ISSUERS");
    expect(issuesOf({ ISSUERS: [{ ...ISSUERS[0], audience: "typo" }] })[0]!.var).toBe("ISSUERS");
    expect(issuesOf({ ISSUERS: [{ issuer: "not-a-url", audiences: ["a"] }] })[0]!.var).toBe("ISSUERS");
    expect(issuesOf({ ISSUERS: [ISSUERS[0], ISSUERS[0]] })[0]!.var).toBe("ISSUERS");
  });

  it("refuses bad policy rules by index", () => {
    const issues = issuesOf({ POLICY: { routes: [{ path: "/ok" }, { path: "/a/../b" }] } });
    expect(issues[0]).toEqual({ var: "POLICY", message: expect.stringContaining("routes[1].path") });
    expect(issuesOf({ POLICY: { routes: [{ path: "/x", auth: "none", require: { scopes: ["a"] } }] } })[0]!.var).toBe(
      "POLICY",
    );
    expect(issuesOf({ POLICY: { routes: [{ path: "/x", revocation: "sometimes" }] } })[0]!.var).toBe("POLICY");
  });

  it("refuses weak admin tokens without ever echoing them", () => {
    const issues = issuesOf({ ADMIN_TOKENS: "short-secret,also-short" });
    expect(issues[0]!.var).toBe("ADMIN_TOKENS");
    expect(JSON.stringify(issues)).not.toContain("short-secret");
    const ok = parseConfig({ ISSUERS, ADMIN_TOKENS: "aaaaaaaaaaaaaaaa1, bbbbbbbbbbbbbbbb2" });
    expect("config" in ok && ok.config.adminTokens).toEqual(["aaaaaaaaaaaaaaaa1", "bbbbbbbbbbbbbbbb2"]);
  });

  it("knows every var of the contract, and LOG_DECISIONS, LOGOUT and FOREIGN_IDENTITY_HEADERS (additions, see README)", () => {
    expect(CONFIG_VARS.sort()).toEqual(
      [
        "ADMIN_TOKENS",
        "CLAIM_HEADERS",
        "CLIENTS",
        "CLOCK_TOLERANCE_SECONDS",
        "DPOP_NONCE_SECRET",
        "FOREIGN_IDENTITY_HEADERS",
        "FORWARD_AUTHORIZATION",
        "ISSUERS",
        "LOG_DECISIONS",
        "LOGOUT",
        "MAX_TOKEN_LIFETIME_SECONDS",
        "METRICS_SAMPLE_RATE",
        "PROTECTED_RESOURCE",
        "ORIGIN_URL",
        "POLICY",
        "REVOCATION_MAX_STALENESS_SECONDS",
        "SENDER_CONSTRAINTS",
        "TRANSMITTERS",
      ].sort(),
    );
  });
});

describe("an invalid configuration", () => {
  it("answers every request with a 500 problem naming the bad var, and forwards nothing", async () => {
    const { net } = await world();
    const bad = makeEnv({ ISSUERS: "[{", ADMIN_TOKENS: "tiny" });
    for (const path of ["/x", "/.auth/check/x", "/public"]) {
      const res = await send(bad, path);
      expect(res.status).toBe(500);
      const body = await problemOf(res);
      expect(body.code).toBe("config_invalid");
      expect(body.detail).toContain("ISSUERS");
      expect(body.detail).toContain("ADMIN_TOKENS");
      expect(JSON.stringify(body)).not.toContain("tiny");
    }
    expect(net.originRequests).toHaveLength(0);
  });

  it("is named by GET /.auth/health", async () => {
    const res = await send(makeEnv({ ISSUERS: [], CLOCK_TOLERANCE_SECONDS: "abc" }), "/.auth/health");
    expect(res.status).toBe(500);
    const body = await problemOf(res);
    expect(body.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ var: "ISSUERS" }),
        expect.objectContaining({ var: "CLOCK_TOLERANCE_SECONDS" }),
      ]),
    );
  });
});

describe("GET /.auth/health", () => {
  it("summarises the configuration of the deployed Worker without secrets", async () => {
    const res = await SELF.fetch("https://gw.test/.auth/health");
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.status).toBe("ok");
    expect(body.issuers).toEqual([
      expect.objectContaining({
        issuer: "http://127.0.0.1:9001",
        jwksUri: "discovery",
        jwks: expect.objectContaining({ keys: 0 }),
      }),
    ]);
    expect(body.adminTokens).toBe(2);
    expect(body.revocation).toMatchObject({
      maxStalenessSeconds: 5,
      view: expect.objectContaining({ seq: expect.any(Number), kvReads: expect.any(Number) }),
    });
    expect(JSON.stringify(body)).not.toContain("test-admin-token");
  });

  it("shows the sender constraints, never the nonce secret", async () => {
    const secret = "a-dpop-nonce-secret-of-40-characters-000";
    const { env: environment } = await world({
      SENDER_CONSTRAINTS: { dpop: { nonce: true, maxAgeSeconds: 30 } },
      DPOP_NONCE_SECRET: secret,
      POLICY: { routes: [{ path: "/a/*", sender: "bound", proofReplay: "network" }] },
    });
    const res = await send(environment, "/.auth/health");
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.senderConstraints).toEqual({
      dpop: { maxAgeSeconds: 30, nonce: true, nonceLifetimeSeconds: 300, networkReplayRoutes: 1, boundRoutes: 1 },
      certificates: { requireVerified: false },
    });
    expect((body.issuers as { dpopAlgorithms: string[] }[])[0]!.dpopAlgorithms).toContain("ES256");
    expect(JSON.stringify(body)).not.toContain(secret);
  });

  it("shows client ids only, and each issuer's JWKS cache age", async () => {
    const { idp, env: environment } = await world({ CLIENTS: [{ id: "web", keySha256: "ab".repeat(32) }] });
    await send(environment, "/x", { headers: { Authorization: `Bearer ${await idp.sign()}` } });
    const body = (await (await send(environment, "/.auth/health")).json()) as {
      clients: unknown;
      issuers: { jwks: { keys: number; ageSeconds: number } }[];
    };
    expect(body.clients).toEqual(["web"]);
    expect(JSON.stringify(body)).not.toContain("abab");
    expect(body.issuers[0]!.jwks).toMatchObject({ keys: 1, ageSeconds: 0, fresh: true });
  });

  it("never forwards /.auth/* and answers 404 for unknown reserved routes", async () => {
    const { net, env: environment } = await world();
    const res = await send(environment, "/.auth/nothing-here");
    expect(res.status).toBe(404);
    expect(net.originRequests).toHaveLength(0);
    void env;
  });
});

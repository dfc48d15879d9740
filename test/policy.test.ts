// Route requirements: scopes all-of (whole words), roles any-of, claims by value.
import type { JWTPayload } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../src/config";
import type { AuthError } from "../src/errors";
import { checkRequire, scopesOf } from "../src/policy";
import { bearer, problemOf, send, world } from "./helpers/app";

afterEach(() => vi.restoreAllMocks());

function rule(route: Record<string, unknown>) {
  const result = parseConfig({
    ISSUERS: [{ issuer: "https://i.test", jwksUri: "https://i.test/j", audiences: ["a"] }],
    POLICY: { routes: [{ path: "/*", ...route }] },
  });
  if (!("config" in result)) throw new Error(JSON.stringify(result.issues));
  return result.config.rules[0]!;
}
const passes = (route: Record<string, unknown>, claims: JWTPayload) => {
  try {
    checkRequire(rule(route), claims);
    return true;
  } catch (e) {
    expect((e as AuthError).code).toBe("insufficient_scope");
    return false;
  }
};

describe("require.scopes", () => {
  const route = { require: { scopes: ["read", "write"] } };
  it("needs every listed scope, from scope or scp", () => {
    expect(passes(route, { scope: "write read other" })).toBe(true);
    expect(passes(route, { scp: ["read", "write"] })).toBe(true);
    expect(passes(route, { scp: "read write" })).toBe(true);
    expect(passes(route, { scope: "read" })).toBe(false);
    expect(passes(route, {})).toBe(false);
  });
  it("matches whole words, never substrings", () => {
    expect(passes(route, { scope: "readonly writer" })).toBe(false);
    expect(passes(route, { scope: "read-write" })).toBe(false);
    expect(passes({ require: { scopes: ["admin"] } }, { scope: "superadmin" })).toBe(false);
  });
  it("reads both scope and scp", () => {
    expect(scopesOf({ scope: "a b", scp: ["c"] })).toEqual(["a", "b", "c"]);
  });
});

describe("require.roles", () => {
  const route = { require: { roles: ["buyer", "admin"] } };
  it("needs at least one of the listed roles", () => {
    expect(passes(route, { roles: ["viewer", "admin"] })).toBe(true);
    expect(passes(route, { roles: "buyer" })).toBe(true);
    expect(passes(route, { roles: ["viewer"] })).toBe(false);
    expect(passes(route, { roles: "buyers" })).toBe(false);
    expect(passes(route, {})).toBe(false);
  });
});

describe("require.claims", () => {
  const route = { require: { claims: { tenant: "acme", email_verified: true, level: 3 } } };
  it("needs each claim to equal the value or to be an array holding it", () => {
    expect(passes(route, { tenant: "acme", email_verified: true, level: 3 })).toBe(true);
    expect(passes(route, { tenant: ["other", "acme"], email_verified: true, level: 3 })).toBe(true);
    expect(passes(route, { tenant: "acme", email_verified: "true", level: 3 })).toBe(false);
    expect(passes(route, { tenant: "acme", email_verified: true })).toBe(false);
    expect(passes(route, { tenant: "acme-corp", email_verified: true, level: 3 })).toBe(false);
  });
});

describe("through the Worker", () => {
  it("answers 403 insufficient_scope when the token is valid but the policy fails, and never forwards", async () => {
    const { net, idp, env } = await world({
      POLICY: { routes: [{ path: "/admin/*", require: { scopes: ["admin"] } }] },
    });
    const res = await send(env, "/admin/x", bearer(await idp.sign({ scope: "read" })));
    expect(res.status).toBe(403);
    expect(res.headers.get("WWW-Authenticate")).toMatch(
      /^Bearer realm="gw.test", error="insufficient_scope", error_description="[^"]+"$/,
    );
    const body = await problemOf(res);
    expect(body).toMatchObject({ status: 403, title: "Insufficient scope", code: "insufficient_scope" });
    expect(body.type).toBe("urn:edge-jwt-authorizer:problem:insufficient_scope");
    expect(net.originRequests).toHaveLength(0);
    expect((await send(env, "/admin/x", bearer(await idp.sign({ scope: "read admin" })))).status).toBe(200);
  });

  it("applies method-specific rules first-match-wins", async () => {
    const { idp, env } = await world({
      POLICY: {
        routes: [
          { path: "/orders/*", methods: ["delete"], require: { roles: ["admin"] } },
          { path: "/orders/*", auth: "none" },
        ],
      },
    });
    expect(
      (await send(env, "/orders/1", { method: "DELETE", ...bearer(await idp.sign({ roles: ["buyer"] })) })).status,
    ).toBe(403);
    expect(
      (await send(env, "/orders/1", { method: "DELETE", ...bearer(await idp.sign({ roles: ["admin"] })) })).status,
    ).toBe(200);
    expect((await send(env, "/orders/1")).status).toBe(200);
  });

  it("needs a valid token on routes no rule matches", async () => {
    const { env } = await world({ POLICY: { routes: [{ path: "/public/*", auth: "none" }] } });
    expect((await send(env, "/elsewhere")).status).toBe(401);
  });
});

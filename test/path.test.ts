// Path readings and rule selection: no encoding trick moves a request from a protected rule to a
// public one; unambiguous paths keep their exact bytes.
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig, type Config } from "../src/config";
import { AuthError } from "../src/errors";
import { compilePattern, rawPathOf, readingsOf } from "../src/path";
import { RESERVED, selectRule, selectRuleMemo } from "../src/policy";
import { bearer, problemOf, send, world } from "./helpers/app";

afterEach(() => vi.restoreAllMocks());

function rules(routes: unknown[]): Config["rules"] {
  const result = parseConfig({
    ISSUERS: [{ issuer: "https://i.test", jwksUri: "https://i.test/j", audiences: ["a"] }],
    POLICY: { routes },
  });
  if (!("config" in result)) throw new Error(JSON.stringify(result.issues));
  return result.config.rules;
}

const policy = rules([
  { path: "/public/*", auth: "none" },
  { path: "/health", auth: "none" },
  { path: "/admin/*", require: { scopes: ["admin"] } },
  { path: "/orders/*", methods: ["POST"], require: { roles: ["buyer"] } },
  { path: "/orders/*", require: { scopes: ["read"] } },
  { path: "/users/*/profile", auth: "none" },
]);

const ruleIndex = (method: string, path: string) => {
  const r = selectRule(policy, method, path);
  return r === RESERVED ? "reserved" : r.index;
};
const errorCode = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as AuthError).code;
  }
  return "none";
};

describe("patterns", () => {
  it("matches exact paths, one-segment wildcards and trailing wildcards", () => {
    expect(ruleIndex("GET", "/public/a/b")).toBe(0);
    expect(ruleIndex("GET", "/public")).toBe(0);
    expect(ruleIndex("GET", "/publicity")).toBe(-1);
    expect(ruleIndex("GET", "/health")).toBe(1);
    expect(ruleIndex("GET", "/health/")).toBe(1);
    expect(ruleIndex("GET", "/health/x")).toBe(-1);
    expect(ruleIndex("GET", "/admin")).toBe(2);
    expect(ruleIndex("GET", "/administrator")).toBe(-1);
    expect(ruleIndex("GET", "/users/42/profile")).toBe(5);
    expect(ruleIndex("GET", "/users/42/settings")).toBe(-1);
  });

  it("takes the first matching rule, with methods", () => {
    expect(ruleIndex("POST", "/orders/1")).toBe(3);
    expect(ruleIndex("GET", "/orders/1")).toBe(4);
    expect(ruleIndex("DELETE", "/orders/1")).toBe(4);
  });

  it("marks the authorizer's own routes as reserved", () => {
    expect(ruleIndex("GET", "/.auth/anything")).toBe("reserved");
  });

  it("refuses patterns that could never be meant", () => {
    for (const bad of ["admin", "/a/../b", "/a//b", "/a*", "/a/%2F", "/a\\b", "/a?b"]) {
      expect(compilePattern(bad).ok, bad).toBe(false);
    }
  });
});

describe("ambiguous paths", () => {
  it("refuses every trick that would move a protected path under a public rule", () => {
    for (const path of [
      "/public/..%2Fadmin",
      "/public/..%2fadmin/x",
      "/public/%2e%2e/admin",
      "/public/%2E%2E%2Fadmin",
      "/public/..\\admin",
      "/public/..%5Cadmin",
      "//admin/x",
      "/public/x/../../admin/x",
      "/public/..;/admin/x",
      "/public;x=1/../admin/x",
      // a proxy that percent-decodes before a servlet container drops ";params"
      "/public/..%3B/admin/x",
      "/admin%3Bx/users",
      "/x/..%2F.auth/health",
    ]) {
      expect(
        errorCode(() => ruleIndex("GET", path)),
        path,
      ).toBe("path_ambiguous");
    }
  });

  it("lets through paths that every reading puts under the same rule", () => {
    expect(ruleIndex("GET", "/public/a%2Fb")).toBe(0);
    expect(ruleIndex("GET", "/public/x/../y")).toBe(0);
    expect(ruleIndex("GET", "/%61dmin/x")).toBe(2);
    expect(ruleIndex("GET", "/admin/a%2Fb")).toBe(2);
    expect(ruleIndex("GET", "/orders/%E2%82%AC")).toBe(4);
  });

  it("refuses control characters and oversized paths", () => {
    expect(errorCode(() => readingsOf("/public/%00"))).toBe("path_invalid");
    expect(errorCode(() => readingsOf("/public/a%0Ab"))).toBe("path_invalid");
    expect(errorCode(() => readingsOf("/" + "a".repeat(9000)))).toBe("path_invalid");
  });

  it("reads the raw path of a URL without normalising it", () => {
    expect(rawPathOf("https://h.test/a/..%2Fb/%2e?q=1#f")).toBe("/a/..%2Fb/%2e");
    expect(rawPathOf("https://h.test")).toBe("/");
  });
});

describe("through the Worker", () => {
  it("answers 400 to an ambiguous path and never forwards it", async () => {
    const { net, idp, env } = await world({
      POLICY: {
        routes: [
          { path: "/public/*", auth: "none" },
          { path: "/admin/*", require: { scopes: ["admin"] } },
        ],
      },
    });
    const res = await send(env, "/public/..%2Fadmin", bearer(await idp.sign()));
    expect(res.status).toBe(400);
    expect((await problemOf(res)).code).toBe("path_ambiguous");
    expect(net.originRequests).toHaveLength(0);
  });

  it("routes only a literal /.auth path to the authorizer's routes; an encoded one is neither served nor forwarded", async () => {
    const { net, env } = await world({ POLICY: { routes: [{ path: "/*", auth: "none" }] } });
    expect((await send(env, "/.auth/health")).status).toBe(200);
    expect((await send(env, "/.auth?x=1")).status).toBe(404); // the /.auth catch-all
    for (const path of ["/%2Eauth/health", "/%2eauth/revocations", "/x/../%2Eauth/health"]) {
      const res = await send(env, path);
      expect([res.status, (await problemOf(res)).code], path).toEqual([404, "not_found"]);
    }
    expect(net.originRequests).toHaveLength(0);
  });

  it("forwards an unambiguous %2F inside a segment byte for byte", async () => {
    const { net, env } = await world({ POLICY: { routes: [{ path: "/public/*", auth: "none" }] } });
    const res = await send(env, "/public/a%2Fb/c%20d?q=%2F&x=1");
    expect(res.status).toBe(200);
    expect(net.originRequests[0]!.url).toBe("https://origin.test/public/a%2Fb/c%20d?q=%2F&x=1");
  });
});

describe("selectRuleMemo", () => {
  it("answers as selectRule does, per method, before and after its bound is passed, and refuses every time", () => {
    const paths = [
      "/public/a",
      "/admin/x",
      "/orders/1",
      "/users/7/profile",
      "/.auth/revoke",
      "/health",
      "/x",
      "/" + "a".repeat(300),
    ];
    const methods = ["GET", "POST"];
    const check = () => {
      for (const m of methods)
        for (const p of paths) expect(selectRuleMemo(policy, m, p), `${m} ${p}`).toBe(selectRule(policy, m, p));
    };
    check();
    check();
    for (let i = 0; i < 3_000; i++)
      expect(selectRuleMemo(policy, "GET", `/orders/${i}`)).toBe(selectRule(policy, "GET", "/orders/1"));
    check();
    for (let i = 0; i < 2; i++)
      expect(errorCode(() => selectRuleMemo(policy, "GET", "/public/..%2fadmin/x"))).toBe("path_ambiguous");
  });
});

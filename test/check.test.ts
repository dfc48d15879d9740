// Forward-auth mode: the same decision, answered (200 + identity headers, or the denial), for
// Envoy ext_authz, nginx auth_request and Traefik ForwardAuth. Never forwarded.
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, problemOf, send, world } from "./helpers/app";

afterEach(() => vi.restoreAllMocks());

const POLICY = {
  routes: [
    { path: "/public/*", auth: "none" },
    { path: "/admin/*", require: { scopes: ["admin"] } },
    { path: "/orders/*", methods: ["DELETE"], require: { roles: ["admin"] } },
  ],
};

describe("forward-auth", () => {
  it("Envoy ext_authz: judges the path after /.auth/check with the request's own method", async () => {
    const { net, idp, env } = await world({ POLICY });
    const token = await idp.sign({ sub: "alice", scope: "read" });
    const ok = await send(env, "/.auth/check/orders/1", bearer(token));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("X-Auth-Subject")).toBe("alice");
    expect(ok.headers.get("X-Auth-Scopes")).toBe("read");
    expect(await ok.text()).toBe("");
    const denied = await send(env, "/.auth/check/admin/users", bearer(token));
    expect(denied.status).toBe(403);
    expect(denied.headers.get("WWW-Authenticate")).toContain('error="insufficient_scope"');
    const none = await send(env, "/.auth/check/orders/1");
    expect(none.status).toBe(401);
    expect(none.headers.get("WWW-Authenticate")).toBe('Bearer realm="gw.test"');
    expect(net.originRequests).toHaveLength(0);
  });

  it("nginx auth_request: reads X-Original-URI and X-Original-Method", async () => {
    const { idp, env } = await world({ POLICY });
    const token = await idp.sign({ scope: "read" });
    const res = await send(
      env,
      "/.auth/check",
      bearer(token, { "X-Original-URI": "/admin/x?y=1", "X-Original-Method": "GET" }),
    );
    expect(res.status).toBe(403);
    const pub = await send(env, "/.auth/check", { headers: { "X-Original-URI": "/public/a" } });
    expect(pub.status).toBe(200);
    expect(pub.headers.get("X-Auth-Subject")).toBeNull();
  });

  it("Traefik ForwardAuth: reads X-Forwarded-Uri and X-Forwarded-Method", async () => {
    const { idp, env } = await world({ POLICY });
    const token = await idp.sign({ roles: ["buyer"] });
    const del = await send(
      env,
      "/.auth/check",
      bearer(token, { "X-Forwarded-Uri": "/orders/7", "X-Forwarded-Method": "DELETE" }),
    );
    expect(del.status).toBe(403);
    const get = await send(
      env,
      "/.auth/check",
      bearer(token, { "X-Forwarded-Uri": "/orders/7", "X-Forwarded-Method": "GET" }),
    );
    expect(get.status).toBe(200);
  });

  // Regression: nginx's auth_request passes the client's headers on to the check, and the check
  // preferred X-Forwarded-Uri over the X-Original-URI nginx sets: a client's own
  // `X-Forwarded-Uri: /public/a` had /admin/x judged as a public path, 200 without a token.
  it("a client's own description of the request that disputes the proxy's gets 400, never the client's", async () => {
    const { idp, env, net } = await world({ POLICY });
    const token = await idp.sign({ roles: ["buyer"] });
    const cases: [string, Record<string, string>][] = [
      ["/.auth/check", { "X-Original-URI": "/admin/x", "X-Forwarded-Uri": "/public/a" }], // nginx, client adds Traefik's
      ["/.auth/check", { "X-Forwarded-Uri": "/admin/x", "X-Original-URI": "/public/a" }], // Traefik, client adds nginx's
      ["/.auth/check", { "X-Original-URI": "/orders/7", "X-Original-Method": "DELETE", "X-Forwarded-Method": "GET" }],
      ["/.auth/check/admin/x", { "X-Forwarded-Uri": "/public/a" }], // Envoy's path, a forwarded header beside it
    ];
    for (const [path, headers] of cases) {
      const res = await send(env, path, { headers });
      expect(res.status, JSON.stringify(headers)).toBe(400);
      expect((await problemOf(res)).code).toBe("path_ambiguous");
    }
    // The check's own method is no description: nginx's subrequest is a GET whatever it describes.
    const nginxAppended = await send(
      env,
      "/.auth/check/orders/7",
      bearer(token, { "X-Original-URI": "/orders/7", "X-Original-Method": "DELETE" }),
    );
    expect(nginxAppended.status).toBe(403); // judged as DELETE /orders/7, not as the GET it came as
    // Descriptions that agree are one request: judged as such.
    const same = await send(env, "/.auth/check", {
      headers: { "X-Original-URI": "/public/a?x=1", "X-Forwarded-Uri": "/public/a" },
    });
    expect(same.status).toBe(200);
    const sameDelete = await send(env, "/.auth/check/orders/7", {
      ...bearer(token, { "X-Forwarded-Uri": "/orders/7", "X-Original-Method": "DELETE" }),
      method: "DELETE",
    });
    expect(sameDelete.status).toBe(403);
    expect(net.originRequests).toHaveLength(0);
  });

  it("refuses an ambiguous forwarded path and a bogus forwarded method", async () => {
    const { idp, env } = await world({ POLICY });
    const token = await idp.sign();
    const res = await send(env, "/.auth/check", bearer(token, { "X-Forwarded-Uri": "/public/..%2Fadmin/x" }));
    expect(res.status).toBe(400);
    expect((await problemOf(res)).code).toBe("path_ambiguous");
    const method = await send(
      env,
      "/.auth/check",
      bearer(token, { "X-Forwarded-Uri": "/x", "X-Forwarded-Method": "GET /evil" }),
    );
    expect(method.status).toBe(400);
    for (const uri of ["admin/x", "javascript:alert(1)", "ftp://h/admin"]) {
      const res = await send(env, "/.auth/check", bearer(token, { "X-Forwarded-Uri": uri }));
      expect(res.status, uri).toBe(400);
      expect((await problemOf(res)).code).toBe("path_invalid");
    }
    const absolute = await send(
      env,
      "/.auth/check",
      bearer(token, { "X-Forwarded-Uri": "https://api.example.com/admin/x?y=1" }),
    );
    expect(absolute.status).toBe(403); // judged as /admin/x
  });

  it("does not let a client's own X-Auth-* headers into the answer", async () => {
    const { idp, env } = await world({ POLICY });
    const res = await send(
      env,
      "/.auth/check/x",
      bearer(await idp.sign({ sub: "alice" }), { "X-Auth-Roles": "admin" }),
    );
    expect(res.headers.get("X-Auth-Roles")).toBeNull();
    expect(res.headers.get("X-Auth-Subject")).toBe("alice");
  });
});

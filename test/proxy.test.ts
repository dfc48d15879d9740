// Forwarding: exact method, path, query and body; identity headers set and client copies stripped;
// the origin's answer returned as it is; origin failures as 502/504 problems.
import { base64url } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthError } from "../src/errors";
import { forward, targetUrl } from "../src/proxy";
import { bearer, problemOf, send, world } from "./helpers/app";

afterEach(() => vi.restoreAllMocks());

const PUBLIC = { POLICY: { routes: [{ path: "/public/*", auth: "none" }] } };

describe("what reaches the origin", () => {
  it("sets every identity header of the contract, and X-Auth-Claims is the signed payload", async () => {
    const { net, idp, env } = await world({ CLAIM_HEADERS: { email: "X-Auth-Email", tenant: "X-Tenant" } });
    const token = await idp.sign({
      sub: "alice",
      jti: "t-1",
      sid: "s-1",
      scp: ["read", "write"],
      roles: ["a", "b"],
      email: "a@x.test",
      tenant: "acme",
    });
    expect((await send(env, "/x", bearer(token))).status).toBe(200);
    const h = net.originRequests[0]!.headers;
    expect(h["x-auth-subject"]).toBe("alice");
    expect(h["x-auth-issuer"]).toBe(idp.issuer);
    expect(h["x-auth-token-id"]).toBe("t-1");
    expect(h["x-auth-session"]).toBe("s-1");
    expect(h["x-auth-scopes"]).toBe("read write");
    expect(h["x-auth-roles"]).toBe("a,b");
    expect(h["x-auth-email"]).toBe("a@x.test");
    expect(h["x-tenant"]).toBe("acme");
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(h["x-auth-claims"]!)));
    expect(claims).toMatchObject({ sub: "alice", tenant: "acme", iss: idp.issuer });
    expect(h["x-auth-expires"]).toBe(String(claims.exp));
  });

  it("carries a claim too big for its own header in X-Auth-Claims", async () => {
    const { net, idp, env } = await world({ CLAIM_HEADERS: { bio: "X-Bio" } });
    const bio = "b".repeat(5000);
    expect((await send(env, "/x", bearer(await idp.sign({ sub: "alice", bio })))).status).toBe(200);
    const h = net.originRequests[0]!.headers;
    expect(h["x-bio"]).toBeUndefined();
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(h["x-auth-claims"]!))).bio).toBe(bio);
  });

  it("leaves out identity headers whose claims are absent", async () => {
    const { net, idp, env } = await world();
    await send(env, "/x", bearer(await idp.sign({ jti: null, sid: null })));
    const h = net.originRequests[0]!.headers;
    expect(h["x-auth-token-id"]).toBeUndefined();
    expect(h["x-auth-session"]).toBeUndefined();
    expect(h["x-auth-scopes"]).toBeUndefined();
    expect(h["x-auth-roles"]).toBeUndefined();
  });

  it("strips client-sent X-Auth-* (any case), X-Api-Key and claim-mapped headers, on public routes too", async () => {
    const { net, idp, env } = await world({ ...PUBLIC, CLAIM_HEADERS: { email: "X-User-Email" } });
    // Spellings with "_" too: a CGI-style origin reads "-" and "_" alike and would take X_Auth_Subject
    // for X-Auth-Subject, X_User_Email for the claim header X-User-Email.
    const spoof = {
      "X-Auth-Subject": "root",
      "x-AUTH-roles": "admin",
      "X-Auth-Anything": "1",
      "X-Api-Key": "secret-key",
      "X-User-Email": "ceo@x.test",
      X_Auth_Subject: "root",
      "X-Auth_Roles": "admin",
      "x_auth-claims": "e30",
      X_User_Email: "ceo@x.test",
      X_Api_Key: "k",
    };
    await send(env, "/public/page", { headers: spoof });
    await send(env, "/private", bearer(await idp.sign({ sub: "alice", email: null }), spoof));
    const [pub, priv] = net.originRequests;
    for (const h of [pub!.headers, priv!.headers]) {
      expect(h["x-auth-roles"]).toBeUndefined();
      expect(h["x-auth-anything"]).toBeUndefined();
      expect(h["x-api-key"]).toBeUndefined();
      expect(h["x-user-email"]).toBeUndefined();
      expect(Object.keys(h).filter((name) => /^x[-_]auth_|^x_auth|^x_user_email$|^x_api_key$/.test(name))).toEqual([]);
    }
    expect(pub!.headers["x-auth-subject"]).toBeUndefined();
    expect(priv!.headers["x-auth-subject"]).toBe("alice");
  });

  it("drops hop-by-hop headers, including those the Connection header names", async () => {
    const { net, env } = await world(PUBLIC);
    await send(env, "/public/x", {
      headers: {
        Connection: "keep-alive, X-Secret-Hop",
        "Keep-Alive": "timeout=5",
        "X-Secret-Hop": "1",
        TE: "trailers",
        "X-Kept": "yes",
      },
    });
    const h = net.originRequests[0]!.headers;
    expect(h["x-secret-hop"]).toBeUndefined();
    expect(h["keep-alive"]).toBeUndefined();
    expect(h["te"]).toBeUndefined();
    expect(h["x-kept"]).toBe("yes");
  });

  it("keeps the client's Authorization header unless FORWARD_AUTHORIZATION is false", async () => {
    const on = await world();
    const token = await on.idp.sign();
    await send(on.env, "/x", bearer(token));
    expect(on.net.originRequests[0]!.headers.authorization).toBe(`Bearer ${token}`);
    vi.restoreAllMocks();
    const off = await world({ FORWARD_AUTHORIZATION: "false" });
    await send(off.env, "/x", bearer(await off.idp.sign()));
    expect(off.net.originRequests[0]!.headers.authorization).toBeUndefined();
  });

  it("never breaks the request or injects a header with a claim holding a newline, control or non-ASCII characters", async () => {
    const { net, idp, env } = await world({ CLAIM_HEADERS: { email: "X-Auth-Email", nick: "X-Auth-Nick" } });
    const token = await idp.sign({
      sub: "alice\r\nX-Injected: 1",
      email: "a@x.test\nX-Evil: 1",
      nick: "Zoë",
      roles: ["ok", "bad\u0000"],
    });
    const res = await send(env, "/x", bearer(token));
    expect(res.status).toBe(200);
    const h = net.originRequests[0]!.headers;
    expect(h["x-injected"]).toBeUndefined();
    expect(h["x-evil"]).toBeUndefined();
    expect(h["x-auth-subject"]).toBeUndefined();
    expect(h["x-auth-email"]).toBeUndefined();
    expect(h["x-auth-nick"]).toBeUndefined();
    expect(h["x-auth-roles"]).toBeUndefined();
    expect(h["x-auth-claims"]).toBeDefined();
  });

  it("sends method, path and query unchanged to ORIGIN_URL, keeping its base path", async () => {
    const { net, idp, env } = await world({ ORIGIN_URL: "https://origin.test/base/" });
    await send(env, "/a%2Fb/%7Euser?b=2&a=%2F&a=1", { method: "PATCH", ...bearer(await idp.sign()), body: "x" });
    expect(net.originRequests[0]!.method).toBe("PATCH");
    expect(net.originRequests[0]!.url).toBe("https://origin.test/base/a%2Fb/%7Euser?b=2&a=%2F&a=1");
  });

  it("sends the request to its own URL when ORIGIN_URL is unset", async () => {
    const { net, idp, env } = await world({ ORIGIN_URL: "" });
    net.originHost = "gw.test";
    await send(env, "/here?q=1", bearer(await idp.sign()));
    expect(net.originRequests[0]!.url).toBe("https://gw.test/here?q=1");
  });

  it("streams a large request body to the origin intact", async () => {
    const { net, idp, env } = await world();
    const chunk = new Uint8Array(64 * 1024).map((_, i) => i % 251);
    const chunks = 128; // 8 MiB
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ >= chunks) return controller.close();
        controller.enqueue(chunk);
      },
    });
    const whole = new Uint8Array(chunk.length * chunks);
    for (let i = 0; i < chunks; i++) whole.set(chunk, i * chunk.length);
    const expected = [...new Uint8Array(await crypto.subtle.digest("SHA-256", whole))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    const res = await send(env, "/upload", {
      method: "POST",
      body,
      ...bearer(await idp.sign()),
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(200);
    expect(net.originRequests[0]!.bodyBytes).toBe(whole.length);
    expect(net.originRequests[0]!.bodySha256).toBe(expected);
  });
});

describe("targetUrl", () => {
  it("appends the raw path and the query, never a fragment or a ? inside one", () => {
    const o = "https://origin.test";
    expect(targetUrl("https://gw.test/a%2Fb?x=1&y=%2F", "/a%2Fb", o)).toBe("https://origin.test/a%2Fb?x=1&y=%2F");
    expect(targetUrl("https://gw.test/a?x=1#frag", "/a", o)).toBe("https://origin.test/a?x=1");
    expect(targetUrl("https://gw.test/a#frag?admin=1", "/a", o)).toBe("https://origin.test/a");
    expect(targetUrl("https://gw.test/a#f", "/a", null)).toBe("https://gw.test/a#f");
  });
});

describe("what comes back", () => {
  it("returns the origin's response unchanged: status, headers, body, redirects not followed", async () => {
    const { net, idp, env } = await world();
    net.originBehaviour = (req) =>
      new URL(req.url).pathname === "/moved"
        ? Promise.resolve(new Response(null, { status: 302, headers: { Location: "https://elsewhere.test/" } }))
        : Promise.resolve(
            new Response("created!", { status: 201, headers: { "X-Custom": "1", "Cache-Control": "max-age=5" } }),
          );
    const token = await idp.sign();
    const res = await send(env, "/thing", bearer(token));
    expect(res.status).toBe(201);
    expect(res.headers.get("X-Custom")).toBe("1");
    expect(res.headers.get("Cache-Control")).toBe("max-age=5");
    expect(await res.text()).toBe("created!");
    const moved = await send(env, "/moved", bearer(token));
    expect(moved.status).toBe(302);
    expect(moved.headers.get("Location")).toBe("https://elsewhere.test/");
  });

  it("answers 502 when the origin cannot be reached", async () => {
    const { net, idp, env } = await world();
    net.originBehaviour = () => Promise.reject(new TypeError("connection reset"));
    const res = await send(env, "/x", bearer(await idp.sign()));
    expect(res.status).toBe(502);
    expect((await problemOf(res)).code).toBe("origin_unreachable");
  });

  it("answers 504 when the origin does not answer in time", async () => {
    const { net } = await world();
    net.originBehaviour = (_req, signal) =>
      new Promise((_, reject) =>
        signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))),
      );
    const error = await forward(
      new Request("https://gw.test/slow"),
      "https://origin.test/slow",
      new Headers(),
      50,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).code).toBe("origin_timeout");
  });

  it("passes origin 5xx answers through as they are", async () => {
    const { net, idp, env } = await world();
    net.originBehaviour = () => Promise.resolve(new Response("down", { status: 503 }));
    const res = await send(env, "/x", bearer(await idp.sign()));
    expect(res.status).toBe(503);
    expect(await res.text()).toBe("down");
  });
});

// Client applications (CLIENTS): API key by SHA-256 in constant time, allowed Origins.
import { afterEach, describe, expect, it, vi } from "vitest";
import { constantTimeEqual, sha256Hex } from "../src/crypto";
import { bearer, problemOf, send, world } from "./helpers/app";

afterEach(() => vi.restoreAllMocks());

async function clientWorld() {
  return world({
    CLIENTS: [
      { id: "web-app", keySha256: (await sha256Hex("web-key-123")).toUpperCase(), origins: ["https://app.example"] },
      { id: "cli", keySha256: await sha256Hex("cli-key-456") },
    ],
    POLICY: {
      routes: [
        { path: "/catalog/*", auth: "none", client: "required" },
        { path: "/orders/*", client: "required" },
      ],
    },
  });
}

describe("client API keys", () => {
  it("answers 401 for a missing or unknown key, and 403 for a known key from a foreign origin", async () => {
    const { net, env } = await clientWorld();
    const missing = await send(env, "/catalog/1");
    expect(missing.status).toBe(401);
    expect((await problemOf(missing)).code).toBe("client_key_missing");
    const unknown = await send(env, "/catalog/1", { headers: { "X-Api-Key": "guess" } });
    expect(unknown.status).toBe(401);
    expect((await problemOf(unknown)).code).toBe("client_key_unknown");
    const foreign = await send(env, "/catalog/1", {
      headers: { "X-Api-Key": "web-key-123", Origin: "https://evil.example" },
    });
    expect(foreign.status).toBe(403);
    expect((await problemOf(foreign)).code).toBe("client_origin_forbidden");
    const noOrigin = await send(env, "/catalog/1", { headers: { "X-Api-Key": "web-key-123" } });
    expect(noOrigin.status).toBe(403);
    expect(net.originRequests).toHaveLength(0);
  });

  it("forwards with X-Auth-Client and without the key", async () => {
    const { net, env } = await clientWorld();
    expect(
      (await send(env, "/catalog/1", { headers: { "X-Api-Key": "web-key-123", Origin: "https://app.example" } }))
        .status,
    ).toBe(200);
    expect((await send(env, "/catalog/2", { headers: { "X-Api-Key": "cli-key-456" } })).status).toBe(200);
    const [web, cli] = net.originRequests;
    expect(web!.headers["x-auth-client"]).toBe("web-app");
    expect(cli!.headers["x-auth-client"]).toBe("cli");
    expect(web!.headers["x-api-key"]).toBeUndefined();
  });

  it("needs both the key and a valid token on a route that requires both", async () => {
    const { net, idp, env } = await clientWorld();
    expect((await send(env, "/orders/1", bearer(await idp.sign()))).status).toBe(401);
    expect((await send(env, "/orders/1", { headers: { "X-Api-Key": "cli-key-456" } })).status).toBe(401);
    const ok = await send(env, "/orders/1", bearer(await idp.sign({ sub: "bob" }), { "X-Api-Key": "cli-key-456" }));
    expect(ok.status).toBe(200);
    expect(net.originRequests[0]!.headers).toMatchObject({ "x-auth-client": "cli", "x-auth-subject": "bob" });
  });

  it("gives one cached token the client of each request, never the previous request's", async () => {
    const { net, idp, env } = await world({
      CLIENTS: [{ id: "cli", keySha256: await sha256Hex("cli-key-456") }],
      POLICY: { routes: [{ path: "/orders/*", client: "required" }] },
    });
    const token = await idp.sign({ sub: "bob" });
    expect((await send(env, "/orders/1", bearer(token, { "X-Api-Key": "cli-key-456" }))).status).toBe(200);
    expect((await send(env, "/other", bearer(token))).status).toBe(200);
    expect((await send(env, "/orders/2", bearer(token, { "X-Api-Key": "cli-key-456" }))).status).toBe(200);
    const [first, second, third] = net.originRequests;
    expect(first!.headers).toMatchObject({ "x-auth-client": "cli", "x-auth-subject": "bob" });
    expect(second!.headers["x-auth-client"]).toBeUndefined();
    expect(second!.headers["x-auth-subject"]).toBe("bob");
    expect(third!.headers).toMatchObject({ "x-auth-client": "cli", "x-auth-subject": "bob" });
  });

  it("never echoes the key in a denial", async () => {
    const { env } = await clientWorld();
    const res = await send(env, "/catalog/1", {
      headers: { "X-Api-Key": "web-key-123", Origin: "https://evil.example" },
    });
    expect((await res.text()) + JSON.stringify([...res.headers])).not.toContain("web-key-123");
  });
});

describe("constant-time comparison", () => {
  it("compares equal and unequal strings of any length", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
    expect(constantTimeEqual("", "")).toBe(true);
    expect(constantTimeEqual("", "a")).toBe(false);
  });
});

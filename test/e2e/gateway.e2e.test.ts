// The main path over HTTP: `wrangler dev` with a real issuer and a real origin beside it.
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mint } from "../../scripts/demo-keys.mjs";
import { startStack, type Stack } from "./harness";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const token = (claims: Record<string, unknown>) =>
  mint(claims, { file: stack.keyFile, issuer: stack.issuer }) as Promise<string>;

/** A GET with the path sent exactly as given (fetch would normalise it). */
function rawGet(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, headers, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("wrangler dev in front of an origin", () => {
  it("answers 401 without a token, and never reaches the origin", async () => {
    const res = await fetch(`${stack.gateway}/orders/1`);
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer realm="127\.0\.0\.1:\d+"$/);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
  });

  it("forwards a valid token with identity headers, after discovering the issuer's JWKS", async () => {
    const t = await token({ sub: "alice", scope: "read", email: "alice@example.com" });
    const res = await fetch(`${stack.gateway}/orders/1?x=%2F`, {
      headers: { Authorization: `Bearer ${t}`, "X-Auth-Roles": "admin" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Demo-Origin")).toBe("echo");
    const echo = (await res.json()) as { path: string; headers: Record<string, string> };
    expect(echo.path).toBe("/orders/1?x=%2F");
    expect(echo.headers["x-auth-subject"]).toBe("alice");
    expect(echo.headers["x-auth-scopes"]).toBe("read");
    expect(echo.headers["x-auth-email"]).toBe("alice@example.com");
    expect(echo.headers["x-auth-roles"]).toBeUndefined();
  });

  it("answers 403 when the policy's requirement fails", async () => {
    const t = await token({ sub: "alice", scope: "read" });
    const res = await fetch(`${stack.gateway}/orders/1`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${t}` },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("WWW-Authenticate")).toContain('error="insufficient_scope"');
  });

  it("answers 401 invalid_token for a token of another audience", async () => {
    const t = await token({ sub: "alice", aud: "someone-else" });
    const res = await fetch(`${stack.gateway}/orders/1`, { headers: { Authorization: `Bearer ${t}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toContain('error="invalid_token"');
  });

  it("refuses raw paths that read differently, and keeps %2F inside a segment", async () => {
    const auth = { Authorization: `Bearer ${await token({ sub: "alice", scope: "read" })}` };
    for (const path of ["/public/..%2Fadmin/x", "//admin/x", "/public/..;/admin/x"]) {
      const res = await rawGet(stack.gateway, path, auth);
      expect(res.status, path).toBe(400);
    }
    for (const path of ["/public/../admin/x", "/public/%2e%2e/admin/x"]) {
      expect((await rawGet(stack.gateway, path, auth)).status, path).toBe(403); // normalised to /admin/x
    }
    const kept = await rawGet(stack.gateway, "/public/a%2Fb", {});
    expect(kept.status).toBe(200);
    expect(JSON.parse(kept.body).path).toBe("/public/a%2Fb");
  });

  it("answers forward-auth checks without forwarding", async () => {
    const t = await token({ sub: "bob", scope: "read" });
    const ok = await fetch(`${stack.gateway}/.auth/check`, {
      headers: { Authorization: `Bearer ${t}`, "X-Original-URI": "/orders/9" },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("X-Auth-Subject")).toBe("bob");
    const health = (await (await fetch(`${stack.gateway}/.auth/health`)).json()) as {
      status: string;
      issuers: { jwks: { keys: number } }[];
    };
    expect(health.status).toBe("ok");
  });
});

// The Worker's own output under wrangler dev: one JSON decision line per request, and never a
// secret that was sent to it (tokens, their signatures, API keys, admin tokens), whatever the outcome.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mint } from "../../scripts/demo-keys.mjs";
import { startStack, type Stack } from "./harness";

const API_KEY = "client-key-that-must-never-be-logged-0001";
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    CLIENTS: JSON.stringify([{ id: "web", keySha256: createHash("sha256").update(API_KEY).digest("hex") }]),
    POLICY: JSON.stringify({
      routes: [
        { path: "/partner/*", client: "required" },
        { path: "/admin/*", require: { scopes: ["admin"] } },
      ],
    }),
  });
});
afterAll(async () => {
  await stack?.stop();
});

interface Decision {
  event: string;
  requestId: string;
  rule?: string;
  outcome: string;
  reason?: string;
  issuer?: string;
  status: number;
  latencyMs: number;
}

describe("logs under wrangler dev", () => {
  it("hold one decision line per request and none of the secrets sent", async () => {
    const token = await mint({ sub: "alice", scope: "read" }, { file: stack.keyFile, issuer: stack.issuer });
    const expired = await mint(
      { sub: "bob", iat: 1_000_000, exp: 1_000_060 },
      { file: stack.keyFile, issuer: stack.issuer },
    );
    const forged = token.slice(0, token.lastIndexOf(".") + 1) + "A".repeat(86);
    const wrongAdmin = "not-the-admin-token-but-secret-0002";
    const secrets = [
      token,
      expired,
      forged,
      API_KEY,
      stack.adminToken,
      wrongAdmin,
      token.split(".")[2]!,
      expired.split(".")[2]!,
    ];
    const requests: [string, RequestInit][] = [
      ["/orders/1", { headers: { Authorization: `Bearer ${token}` } }],
      ["/orders/1?access_token=" + token, {}],
      ["/orders/1", { headers: { Authorization: `Bearer ${expired}` } }],
      ["/orders/1", { headers: { Authorization: `Bearer ${forged}` } }],
      ["/admin/x", { headers: { Authorization: `Bearer ${token}` } }],
      ["/partner/x", { headers: { Authorization: `Bearer ${token}`, "X-Api-Key": API_KEY } }],
      ["/partner/x", { headers: { Authorization: `Bearer ${token}`, "X-Api-Key": API_KEY + "x" } }],
      ["/.auth/check/orders/1", { headers: { Authorization: `Bearer ${token}` } }],
      [
        "/.auth/revoke",
        { method: "POST", headers: { Authorization: `Bearer ${wrongAdmin}` }, body: JSON.stringify({ token }) },
      ],
      [
        "/.auth/revoke",
        {
          method: "POST",
          headers: { Authorization: `Bearer ${stack.adminToken}`, "Content-Type": "application/json" },
          body: JSON.stringify({ token: expired }),
        },
      ],
      [
        "/.auth/revoke",
        { method: "POST", headers: { Authorization: `Bearer ${stack.adminToken}` }, body: `{"token": "${token}"` },
      ],
      [
        "/.auth/backchannel-logout",
        {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: `logout_token=${token}`,
        },
      ],
      ["/.auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } }],
      ["/orders/1", { headers: { Authorization: `Bearer ${token}` } }],
    ];
    const statuses = [];
    for (const [path, init] of requests) statuses.push((await fetch(stack.gateway + path, init)).status);
    expect(statuses).toEqual([200, 401, 401, 401, 403, 200, 401, 200, 401, 200, 400, 400, 204, 200]);

    // wrangler dev prints the Worker's console asynchronously: wait (bounded) for every line.
    let lines: Decision[] = [];
    for (let i = 0; i < 50; i++) {
      lines = stack
        .gatewayOutput()
        .split("\n")
        .flatMap((l) => (l.includes('"event":"decision"') ? [JSON.parse(l.slice(l.indexOf("{"))) as Decision] : []));
      if (lines.length >= requests.length + 1) break; // + the harness's health poll
      await new Promise((r) => setTimeout(r, 200));
    }
    const ours = lines.filter((l) => l.rule !== "/.auth/health");
    expect(ours.map((l) => l.status)).toEqual(statuses);
    expect(ours[0]).toMatchObject({ outcome: "allowed", rule: "/*", issuer: stack.issuer, status: 200 });
    expect(ours[2]).toMatchObject({ outcome: "denied", reason: "token_expired", status: 401 });
    expect(ours[3]).toMatchObject({ reason: "signature_invalid" });
    expect(ours[4]).toMatchObject({ reason: "insufficient_scope", rule: "/admin/*" });
    expect(ours[8]).toMatchObject({ rule: "/.auth/revoke", reason: "admin_unauthorized" });
    for (const l of ours) {
      expect(typeof l.requestId).toBe("string");
      expect(l.latencyMs).toBeGreaterThanOrEqual(0);
    }

    const output = stack.gatewayOutput();
    for (const secret of secrets)
      expect(output.includes(secret), `a secret of ${secret.length} characters is in the output`).toBe(false);
  });
});

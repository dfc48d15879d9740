// The Hono middleware (src/hono.ts) in a Worker that is its own origin: each denial is the gateway's
// answer to the same request under the same env, the handler never runs on one, and an approval
// puts the identity the gateway would forward on the context.
import { createExecutionContext, reset, waitOnExecutionContext } from "cloudflare:test";
import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import { authorizer, type Auth, type AuthEnv } from "../src/hono";
import { bearer, freezeClock, GATEWAY, makeEnv, problemOf, send, world } from "./helpers/app";
import { DpopClient, dpop } from "./helpers/dpop";

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await reset();
});

const ADMIN = "test-admin-token-0001";
const POLICY = {
  routes: [
    { path: "/public/*", auth: "none" },
    { path: "/admin/*", require: { scopes: ["admin"] } },
    { path: "/strict/*", revocation: "strict" },
    { path: "/bound/*", sender: "bound" },
  ],
};

/** A user's Worker: the middleware in front of every route, each handler answering with `auth`. */
function userWorker() {
  const reached: string[] = [];
  const app = new Hono<AuthEnv>();
  app.use("*", authorizer());
  app.all("*", (c) => {
    reached.push(c.req.path);
    return c.json(c.get("auth"));
  });
  const fetch = async (env: Env, path: string, init?: RequestInit) => {
    const ctx = createExecutionContext();
    const response = await app.fetch(new Request(GATEWAY + path, init), env, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };
  return { fetch, reached };
}

/** What a client sees of an answer: to be the same from the middleware and the gateway. */
async function seen(response: Response) {
  return {
    status: response.status,
    challenge: response.headers.get("WWW-Authenticate"),
    contentType: response.headers.get("Content-Type"),
    body: await response.text(),
  };
}

/** The middleware's answer to a request, having checked that it is the gateway's too. */
async function sameAsGateway(env: Env, path: string, init?: RequestInit) {
  const worker = userWorker();
  const answer = await seen(await worker.fetch(env, path, init));
  expect(answer).toEqual(await seen(await send(env, path, init)));
  expect(worker.reached).toEqual([]);
  return { ...answer, code: (JSON.parse(answer.body) as { code: string }).code };
}

describe("the Hono middleware", () => {
  it("lets a valid token reach the handler, with its claims and the gateway's identity headers", async () => {
    const { net, idp, env } = await world({ POLICY, CLAIM_HEADERS: { email: "X-Auth-Email" } });
    const token = await idp.sign({ scope: "read write", roles: ["buyer"], email: "a@example.com", sid: "s-1" });
    const worker = userWorker();
    const response = await worker.fetch(env, "/orders/1", bearer(token));
    expect(response.status).toBe(200);
    expect(worker.reached).toEqual(["/orders/1"]);
    const auth = (await response.json()) as Auth;
    expect(auth).toMatchObject({ issuer: idp.issuer, binding: null, client: null });
    expect(auth.claims).toMatchObject({ sub: "alice", email: "a@example.com", scope: "read write" });
    expect(auth.headers).toMatchObject({
      "X-Auth-Subject": "alice",
      "X-Auth-Scopes": "read write",
      "X-Auth-Roles": "buyer",
      "X-Auth-Email": "a@example.com",
    });
    // Exactly what the gateway sends its origin for the same token.
    expect((await send(env, "/orders/1", bearer(token))).status).toBe(200);
    const forwarded = Object.entries(net.originRequests[0]!.headers).filter(([name]) => name.startsWith("x-auth-"));
    const own = Object.entries(auth.headers).map(([name, value]) => [name.toLowerCase(), value]);
    expect(own.sort()).toEqual(forwarded.sort());
  });

  it("answers a request without a token as the gateway does, and the handler never runs", async () => {
    const { env } = await world({ POLICY });
    const missing = await sameAsGateway(env, "/orders/1");
    expect(missing).toMatchObject({ status: 401, code: "token_missing", contentType: "application/problem+json" });
    expect(missing.challenge).toBe('Bearer realm="gw.test"');
    const garbled = await sameAsGateway(env, "/orders/1", bearer("not.a.token"));
    expect(garbled).toMatchObject({ status: 401, code: "token_malformed" });
  });

  it("refuses a token revoked through the authorizer Worker on a strict route", async () => {
    const { idp, env } = await world({ POLICY });
    const token = await idp.sign({ jti: "stolen" });
    const worker = userWorker();
    expect((await worker.fetch(env, "/strict/x", bearer(token))).status).toBe(200);
    const revoked = await send(env, "/.auth/revoke", {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    expect(revoked.status).toBe(200);
    const refused = await sameAsGateway(env, "/strict/x", bearer(token));
    expect(refused).toMatchObject({ status: 401, code: "token_revoked" });
    expect(refused.challenge).toContain('error="invalid_token"');
  });

  it("gives 403 insufficient_scope where a rule's require.scopes is not met", async () => {
    const { idp, env } = await world({ POLICY });
    const reader = await idp.sign({ scope: "read" });
    const refused = await sameAsGateway(env, "/admin/users", bearer(reader));
    expect(refused).toMatchObject({ status: 403, code: "insufficient_scope" });
    expect(refused.challenge).toContain('error="insufficient_scope"');
    const admin = await idp.sign({ scope: "read admin" });
    expect((await userWorker().fetch(env, "/admin/users", bearer(admin))).status).toBe(200);
  });

  it("takes a DPoP-bound token only with its proof, and says the binding", async () => {
    const { idp, env } = await world({ POLICY });
    const client = await DpopClient.create();
    const token = await idp.sign({ cnf: { jkt: client.jkt } });
    expect(await sameAsGateway(env, "/x", bearer(token))).toMatchObject({ status: 401, code: "token_dpop_bound" });
    const noProof = await sameAsGateway(env, "/x", { headers: { Authorization: `DPoP ${token}` } });
    expect(noProof).toMatchObject({ status: 401, code: "dpop_proof_invalid" });
    expect(noProof.challenge).toMatch(/^DPoP realm="gw.test", algs="[^"]+", error="invalid_dpop_proof"/);
    const response = await userWorker().fetch(env, "/x", dpop(token, await client.proof({ token })));
    expect(response.status).toBe(200);
    expect(((await response.json()) as Auth).binding).toEqual({ kind: "dpop", thumbprint: client.jkt });
    // A route that takes only bound tokens offers DPoP in its challenge, as the gateway's does.
    const unbound = await sameAsGateway(env, "/bound/x");
    expect(unbound.challenge).toContain("DPoP realm=");
  });

  it("asks for a DPoP nonce as the gateway does, and renews it on the handler's answer", async () => {
    const clock = freezeClock();
    const { idp, env } = await world({
      POLICY,
      SENDER_CONSTRAINTS: { dpop: { nonce: true, nonceLifetimeSeconds: 60 } },
      DPOP_NONCE_SECRET: "a-dpop-nonce-secret-of-40-characters-000",
    });
    const client = await DpopClient.create();
    const token = await idp.sign({ cnf: { jkt: client.jkt } });
    const proof = (claims: Record<string, unknown> = {}) => client.proof({ token, claims });
    const asked = await userWorker().fetch(env, "/x", dpop(token, await proof()));
    expect(asked.status).toBe(401);
    expect((await problemOf(asked)).code).toBe("dpop_nonce_required");
    const nonce = asked.headers.get("DPoP-Nonce")!;
    expect(nonce).toBeTruthy();
    clock.advance(60); // the nonce's next window: still taken, and the answer carries the new one
    const renewed = await userWorker().fetch(env, "/x", dpop(token, await proof({ nonce })));
    expect(renewed.status).toBe(200);
    expect(renewed.headers.get("DPoP-Nonce")).toMatch(/.+/);
    expect(renewed.headers.get("DPoP-Nonce")).not.toBe(nonce);
  });

  it("runs the handler on auth none routes, with no identity", async () => {
    const { env } = await world({ POLICY });
    const response = await userWorker().fetch(env, "/public/page");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ claims: null, issuer: null, binding: null, client: null, headers: {} });
  });

  it("refuses /.auth/* with the gateway's 404 rather than pass it to the handler", async () => {
    const { idp, env } = await world({ POLICY });
    const token = await idp.sign();
    expect(await sameAsGateway(env, "/.auth/anything", bearer(token))).toMatchObject({
      status: 404,
      code: "not_found",
    });
  });

  it("answers an invalid configuration with the gateway's 500 naming the bad vars", async () => {
    const env = makeEnv({ ISSUERS: "not json" });
    const refused = await sameAsGateway(env, "/x");
    expect(refused).toMatchObject({ status: 500, code: "config_invalid" });
    expect((JSON.parse(refused.body) as { detail: string }).detail).toContain("ISSUERS");
  });

  it("guards only the paths it is mounted on, and types the identity for the handler", async () => {
    const { idp, env } = await world({ POLICY });
    const app = new Hono();
    app.get("/open", (c) => c.text("open"));
    app.get("/me", authorizer(), (c) => c.text(String(c.get("auth").claims?.sub)));
    const call = (path: string, init?: RequestInit) => app.request(GATEWAY + path, init, env);
    expect(await (await call("/open")).text()).toBe("open");
    const refused = await call("/me");
    expect(refused.status).toBe(401);
    expect((await problemOf(refused)).code).toBe("token_missing");
    expect(await (await call("/me", bearer(await idp.sign()))).text()).toBe("alice");
  });

  it("logs one decision line per request, with the handler's status on approval", async () => {
    const { idp, env } = await world({ POLICY });
    const lines: Record<string, unknown>[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(JSON.parse(line)));
    const worker = userWorker();
    await worker.fetch(env, "/admin/x", bearer(await idp.sign({ scope: "read" })));
    await worker.fetch(env, "/orders/1", bearer(await idp.sign()));
    expect(lines).toEqual([
      expect.objectContaining({ event: "decision", outcome: "denied", status: 403, reason: "insufficient_scope" }),
      expect.objectContaining({ event: "decision", outcome: "allowed", status: 200, rule: "/*", issuer: idp.issuer }),
    ]);
  });
});

// Revocation through the Worker: the admin routes, logout, the feed, the stream, and what a revoked
// token gets on eventual, strict and skip routes.
import { reset } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, freezeClock, makeEnv, problemOf, send, type World, world } from "./helpers/app";
import { FlakyKv } from "./helpers/kv";

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await reset();
});

const ADMIN = "test-admin-token-0001";
const POLICY = {
  routes: [
    { path: "/strict/*", revocation: "strict" },
    { path: "/skip/*", revocation: "skip" },
  ],
};

/** A world whose KV binding is a fresh counting wrapper, so its revocation view starts cold. */
async function revocationWorld(vars: Record<string, unknown> = {}): Promise<World & { kv: FlakyKv }> {
  const w = await world({ POLICY, ...vars });
  const kv = new FlakyKv();
  return { ...w, kv, env: { ...w.env, REVOCATIONS: kv.binding() } as Env };
}

function post(env: Env, path: string, body: unknown, token = ADMIN): Promise<Response> {
  return send(env, path, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("POST /.auth/revoke", () => {
  it("keeps answering after bodies with absurd expiries (they once broke the ledger's alarm)", async () => {
    const { env } = await revocationWorld();
    const unsigned = (payload: object) =>
      `eyJhbGciOiJub25lIn0.${btoa(JSON.stringify(payload)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_")}.`;
    expect((await post(env, "/.auth/revoke", { token: unsigned({ exp: -1e308 }) })).status).toBe(200);
    expect((await post(env, "/.auth/revoke", { jti: "far", exp: 2 ** 40 })).status).toBe(200);
    const after = await post(env, "/.auth/revoke", { sub: "still-works" });
    expect(after.status).toBe(200);
    const feed = (await (
      await send(env, "/.auth/revocations", { headers: { Authorization: `Bearer ${ADMIN}` } })
    ).json()) as { events: { revocation: { expiresAt: number } }[] };
    const latest = Math.floor(Date.now() / 1000) + 86400 + 120;
    for (const e of feed.events) expect(e.revocation.expiresAt).toBeLessThanOrEqual(latest);
  });

  it("needs one of the admin tokens; a user's JWT is never one", async () => {
    const { idp, env } = await revocationWorld();
    expect((await post(env, "/.auth/revoke", { sub: "a" }, "")).status).toBe(401);
    expect((await post(env, "/.auth/revoke", { sub: "a" }, "wrong-token-wrong-token")).status).toBe(401);
    const jwt = await idp.sign({ scope: "admin", roles: ["admin"] });
    const asUser = await post(env, "/.auth/revoke", { sub: "a" }, jwt);
    expect(asUser.status).toBe(401);
    expect((await problemOf(asUser)).code).toBe("admin_unauthorized");
    expect((await post(env, "/.auth/revoke", { sub: "a" }, "test-admin-token-0001")).status).toBe(200);
    expect((await post(env, "/.auth/revoke", { sub: "b" }, "test-admin-token-0002")).status).toBe(200);
  });

  it("accepts the four body shapes and answers { seq, revocation }", async () => {
    const { idp, env } = await revocationWorld();
    const exp = Math.floor(Date.now() / 1000) + 600;
    const withJti = await idp.sign({ jti: "from-token" });
    const withoutJti = await idp.sign({ jti: null });
    const bodies = [
      { jti: "j-1", exp },
      { token: withJti },
      { token: withoutJti },
      { sub: "alice", iss: idp.issuer },
      { sid: "s-1" },
    ];
    const answers = [];
    for (const body of bodies) {
      const res = await post(env, "/.auth/revoke", body);
      expect(res.status).toBe(200);
      answers.push((await res.json()) as { seq: number; revocation: Record<string, unknown> });
    }
    expect(answers.map((a) => a.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(answers.map((a) => a.revocation.kind)).toEqual(["jti", "jti", "token", "sub", "sid"]);
    expect(answers[1]!.revocation).toMatchObject({ value: "from-token", iss: idp.issuer });
    expect(answers[2]!.revocation.value).toMatch(/^[0-9a-f]{64}$/);
    expect(answers[3]!.revocation).toMatchObject({ value: "alice", iss: idp.issuer });
    expect(answers[4]!.revocation).toMatchObject({ value: "s-1", iss: null });
    const again = (await (await post(env, "/.auth/revoke", { jti: "j-1", exp })).json()) as { seq: number };
    expect(again.seq).toBe(1);
  });

  it("answers 400 to anything else", async () => {
    const { env } = await revocationWorld();
    for (const body of [
      "not json",
      "[]",
      {},
      { jti: "x" },
      { sub: "" },
      { sub: "a", extra: 1 },
      { token: "not-a-jwt" },
      { jti: "x", exp: "soon" },
      { sub: "a", sid: "b" },
    ]) {
      const res = await post(env, "/.auth/revoke", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await problemOf(res)).code).toBe("body_invalid");
    }
  });

  it("answers 413 over 16 KiB, with or without Content-Length", async () => {
    const { env } = await revocationWorld();
    const big = JSON.stringify({ sub: "x".repeat(17 * 1024) });
    expect((await post(env, "/.auth/revoke", big)).status).toBe(413);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ > 20) return controller.close();
        controller.enqueue(new TextEncoder().encode(" ".repeat(1024)));
      },
    });
    const res = await send(env, "/.auth/revoke", {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN}` },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect((await problemOf(res)).code).toBe("body_too_large");
  });
});

describe("POST /.auth/revoke with Idempotency-Key", () => {
  const keyed = (env: Env, body: unknown, key: string) =>
    send(env, "/.auth/revoke", {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json", "Idempotency-Key": key },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const feedOf = async (env: Env) =>
    (
      (await (await send(env, "/.auth/revocations", { headers: { Authorization: `Bearer ${ADMIN}` } })).json()) as {
        events: { seq: number }[];
      }
    ).events;

  it("answers a retried sub revoke with the first answer: same seq, same revocation, no second entry", async () => {
    const clock = freezeClock();
    const { idp, env } = await revocationWorld();
    const key = crypto.randomUUID();
    const first = await keyed(env, { sub: "alice", iss: idp.issuer }, key);
    expect(first.status).toBe(200);
    const firstBody = await first.json();
    // The client timed out and retries; a login meanwhile, past the clock tolerance (30 s) within
    // which a sub revocation also denies tokens stamped after it (an issuer clock running ahead).
    clock.advance(40);
    const loginBetween = await idp.sign({ sub: "alice" });
    // the same request however it is spelled, and the key in the draft's quoted form
    const retry = await keyed(env, `{ "iss": ${JSON.stringify(idp.issuer)}, "sub": "alice" }`, `"${key}"`);
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual(firstBody);
    expect(await feedOf(env)).toHaveLength(1);
    expect((await send(env, "/strict/x", bearer(loginBetween))).status).toBe(200);
  });

  it("answers 422 to the same key with a different body, and records nothing", async () => {
    const { idp, env } = await revocationWorld();
    expect((await keyed(env, { sub: "a" }, "key-1")).status).toBe(200);
    for (const body of [{ sub: "b" }, { sid: "a" }, { sub: "a", iss: idp.issuer }]) {
      const res = await keyed(env, body, "key-1");
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(await problemOf(res)).toMatchObject({ code: "idempotency_key_reused", status: 422 });
    }
    expect(await feedOf(env)).toHaveLength(1);
  });

  it("answers 400 to a malformed key and records nothing", async () => {
    const { env } = await revocationWorld();
    for (const key of ["", '""', "x".repeat(256), "a\u007fb", "a\tb"]) {
      const res = await keyed(env, { sub: "a" }, key);
      expect(res.status, JSON.stringify(key)).toBe(400);
      expect((await problemOf(res)).code).toBe("body_invalid");
    }
    expect(await feedOf(env)).toHaveLength(0);
    expect((await keyed(env, { sub: "a" }, "x".repeat(255))).status).toBe(200);
  });

  it("keeps each jti/token answer under its key, and still needs the admin token", async () => {
    const { idp, env } = await revocationWorld();
    const token = await idp.sign({ jti: "k-jti" });
    const a = (await (await keyed(env, { token }, "t-1")).json()) as { seq: number };
    const b = (await (await keyed(env, { token }, "t-1")).json()) as { seq: number };
    expect(b.seq).toBe(a.seq);
    const unauthorized = await send(env, "/.auth/revoke", {
      method: "POST",
      headers: { "Idempotency-Key": "t-1" },
      body: JSON.stringify({ token }),
    });
    expect(unauthorized.status).toBe(401);
  });
});

describe("a revoked token", () => {
  it("is denied on strict routes at once, on eventual routes after the staleness bound, never on skip routes", async () => {
    const clock = freezeClock();
    const { net, idp, env, kv } = await revocationWorld();
    const token = await idp.sign({ jti: "stolen" });
    expect((await send(env, "/x", bearer(token))).status).toBe(200);
    expect((await post(env, "/.auth/revoke", { token })).status).toBe(200);
    const strict = await send(env, "/strict/x", bearer(token));
    expect(strict.status).toBe(401);
    expect(strict.headers.get("WWW-Authenticate")).toContain('error="invalid_token"');
    expect((await problemOf(strict)).code).toBe("token_revoked");
    expect((await send(env, "/x", bearer(token))).status).toBe(200); // the view is still within its bound
    clock.advance(5);
    expect((await send(env, "/x", bearer(token))).status).toBe(401);
    expect((await send(env, "/skip/x", bearer(token))).status).toBe(200);
    const before = net.originRequests.length;
    expect((await send(env, "/y", bearer(token))).status).toBe(401);
    expect(net.originRequests.length).toBe(before);
    // steady state: no KV read per request
    const reads = kv.reads;
    const fine = await idp.sign();
    for (let i = 0; i < 50; i++) expect((await send(env, "/x", bearer(fine))).status).toBe(200);
    expect(kv.reads).toBe(reads);
  });

  it("by subject: earlier tokens are denied, later ones pass, other issuers are untouched", async () => {
    const clock = freezeClock();
    const { net, idp, env } = await revocationWorld();
    const other = net.issuer("https://other-idp.test");
    await other.addKey();
    const environment = {
      ...env,
      ISSUERS: [
        ...(env.ISSUERS as unknown as object[]),
        { issuer: other.issuer, jwksUri: other.jwksUri, audiences: ["api"] },
      ],
    } as Env;
    const before = await idp.sign({ sub: "alice" });
    const otherIssuer = await other.sign({ sub: "alice" });
    expect((await post(environment, "/.auth/revoke", { sub: "alice", iss: idp.issuer })).status).toBe(200);
    clock.advance(29);
    const withinTolerance = await idp.sign({ sub: "alice" }); // its issuer's clock may be 30 s ahead: denied too
    clock.advance(2);
    const after = await idp.sign({ sub: "alice" });
    expect((await send(environment, "/strict/x", bearer(withinTolerance))).status).toBe(401);
    expect((await send(environment, "/strict/x", bearer(before))).status).toBe(401);
    expect((await send(environment, "/strict/x", bearer(after))).status).toBe(200);
    expect((await send(environment, "/strict/x", bearer(otherIssuer))).status).toBe(200);
    expect((await send(environment, "/x", bearer(before))).status).toBe(401);
    expect((await send(environment, "/x", bearer(after))).status).toBe(200);
    expect((await send(environment, "/x", bearer(await idp.sign({ sub: "bob" })))).status).toBe(200);
  });

  it("by session: that session's tokens are denied, another session's pass", async () => {
    const { idp, env } = await revocationWorld();
    const s1 = await idp.sign({ sid: "s1" });
    const s2 = await idp.sign({ sid: "s2" });
    expect((await post(env, "/.auth/revoke", { sid: "s1" })).status).toBe(200);
    expect((await send(env, "/x", bearer(s1))).status).toBe(401);
    expect((await send(env, "/x", bearer(s2))).status).toBe(200);
  });

  it("by the token's SHA-256 when it has no jti", async () => {
    const { idp, env } = await revocationWorld();
    const token = await idp.sign({ jti: null });
    const sibling = await idp.sign({ jti: null, sub: "alice2" });
    expect((await post(env, "/.auth/revoke", { token })).status).toBe(200);
    expect((await send(env, "/x", bearer(token))).status).toBe(401);
    expect((await send(env, "/x", bearer(sibling))).status).toBe(200);
  });

  it("is denied in forward-auth mode too", async () => {
    const { idp, env } = await revocationWorld();
    const token = await idp.sign();
    await post(env, "/.auth/revoke", { token });
    expect((await send(env, "/.auth/check/strict/x", bearer(token))).status).toBe(401);
  });
});

describe("POST /.auth/logout", () => {
  it("revokes the caller's own token, its session, or every token of its subject", async () => {
    const { idp, env } = await revocationWorld();
    const mine = await idp.sign({ sub: "u1", sid: "a" });
    const sameSession = await idp.sign({ sub: "u1", sid: "a" });
    expect((await send(env, "/.auth/logout", { method: "POST", ...bearer(mine) })).status).toBe(204);
    expect((await send(env, "/strict/x", bearer(mine))).status).toBe(401);
    expect((await send(env, "/strict/x", bearer(sameSession))).status).toBe(200);

    const otherSession = await idp.sign({ sub: "u1", sid: "b", scope: "openid" });
    expect((await send(env, "/.auth/logout?scope=session", { method: "POST", ...bearer(sameSession) })).status).toBe(
      204,
    );
    expect((await send(env, "/strict/x", bearer(sameSession))).status).toBe(401);
    expect((await send(env, "/strict/x", bearer(otherSession))).status).toBe(200);

    expect((await send(env, "/.auth/logout?scope=all", { method: "POST", ...bearer(otherSession) })).status).toBe(204);
    expect((await send(env, "/strict/x", bearer(otherSession))).status).toBe(401);
  });

  it("needs a valid token, a known scope, and a sid for scope=session", async () => {
    const { idp, env } = await revocationWorld();
    expect((await send(env, "/.auth/logout", { method: "POST" })).status).toBe(401);
    expect(
      (await send(env, "/.auth/logout", { method: "POST", ...bearer(await idp.sign({ aud: "other" })) })).status,
    ).toBe(401);
    expect(
      (await send(env, "/.auth/logout?scope=everything", { method: "POST", ...bearer(await idp.sign()) })).status,
    ).toBe(400);
    expect(
      (await send(env, "/.auth/logout?scope=session", { method: "POST", ...bearer(await idp.sign({ sid: null })) }))
        .status,
    ).toBe(400);
  });
});

describe("GET /.auth/revocations", () => {
  it("pages the ordered feed through next", async () => {
    const { env } = await revocationWorld();
    for (let i = 0; i < 5; i++) await post(env, "/.auth/revoke", { sub: `u${i}` });
    const auth = { headers: { Authorization: `Bearer ${ADMIN}` } };
    const seen: number[] = [];
    let since: number | null = 0;
    for (let page = 0; since !== null && page < 10; page++) {
      const res = await send(env, `/.auth/revocations?since=${since}&limit=2`, auth);
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        events: { seq: number; at: number; revocation: { value: string } }[];
        next: number | null;
      };
      seen.push(...body.events.map((e) => e.seq));
      since = body.next;
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it("needs the admin token and a sane query", async () => {
    const { env } = await revocationWorld();
    expect((await send(env, "/.auth/revocations")).status).toBe(401);
    const auth = { headers: { Authorization: `Bearer ${ADMIN}` } };
    expect((await send(env, "/.auth/revocations?limit=0", auth)).status).toBe(400);
    expect((await send(env, "/.auth/revocations?since=-1", auth)).status).toBe(400);
    expect((await send(env, "/.auth/revocations?limit=5000", auth)).status).toBe(400);
  });
});

describe("GET /.auth/revocations/stream", () => {
  it("pushes each new revocation as one JSON frame in seq order, after the backlog asked for, with 100 revokes in flight", async () => {
    const { env } = await revocationWorld();
    await post(env, "/.auth/revoke", { sub: "before" });
    const res = await send(env, "/.auth/revocations/stream?since=0", {
      headers: { Authorization: `Bearer ${ADMIN}`, Upgrade: "websocket" },
    });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const frames: { seq: number; revocation: { value: string } }[] = [];
    const got = new Promise<void>((resolve) =>
      ws.addEventListener("message", (m) => {
        frames.push(JSON.parse(m.data as string));
        if (frames.length === 101) resolve();
      }),
    );
    ws.accept();
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => post(env, "/.auth/revoke", { sub: `s${i}` })),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    await got;
    expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    expect(frames[0]!.revocation.value).toBe("before");
    ws.close();
  });

  it("needs the admin token and a WebSocket upgrade", async () => {
    const { env } = await revocationWorld();
    expect((await send(env, "/.auth/revocations/stream", { headers: { Upgrade: "websocket" } })).status).toBe(401);
    expect(
      (await send(env, "/.auth/revocations/stream", { headers: { Authorization: `Bearer ${ADMIN}` } })).status,
    ).toBe(426);
    const bad = await send(env, "/.auth/revocations/stream?since=abc", {
      headers: { Authorization: `Bearer ${ADMIN}`, Upgrade: "websocket" },
    });
    expect(bad.status).toBe(400);
    expect((await problemOf(bad)).code).toBe("body_invalid");
  });
});

it("reports the ledger unreachable on strict routes as 503, never as a pass", async () => {
  const { idp, env } = await revocationWorld();
  const broken = makeEnv({
    ...env,
    REVOCATION_LEDGER: {
      idFromName: () => ({}),
      get: () => ({ check: () => Promise.reject(new Error("unreachable")) }),
    },
  });
  const res = await send(broken, "/strict/x", bearer(await idp.sign()));
  expect(res.status).toBe(503);
  expect((await problemOf(res)).code).toBe("revocations_unavailable");
});

// The client inside workerd: its wire types equal the Worker's, it drives the Worker's routes with
// the Workers way of opening a WebSocket (fetch with Upgrade), and its retry policy, request by
// request, against a scripted fetch. Over real HTTP, in Node: test/e2e/client.e2e.test.ts.
import { reset } from "cloudflare:test";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { retryAfterMs } from "../src/client/backoff";
import {
  RevocationClient,
  RevocationClientError,
  type FetchLike,
  type Health,
  type Revocation,
  type RevocationEvent,
} from "../src/client/index";
import type { z } from "zod";
import type { HealthSchema } from "../src/routes/health";
import type { Revocation as LedgerRevocation, RevocationEvent as LedgerRevocationEvent } from "../src/revocation/model";
import { send, world } from "./helpers/app";

afterEach(async () => {
  await reset();
});

const ADMIN = "test-admin-token-0001";
const BASE = "https://gw.test";

it("declares the same wire shapes as the ledger", () => {
  expectTypeOf<Revocation>().toEqualTypeOf<LedgerRevocation>();
  expectTypeOf<RevocationEvent>().toEqualTypeOf<LedgerRevocationEvent>();
  expectTypeOf<z.output<typeof HealthSchema>>().toExtend<Health>();
});

describe("against the Worker, in workerd", () => {
  it("revokes each way, reads the feed, and follows the stream through a fetch Upgrade", async () => {
    const { idp, env } = await world();
    const viaWorker: FetchLike = (input, init) => send(env, input, init);
    const client = new RevocationClient({ baseUrl: BASE, adminToken: ADMIN, fetch: viaWorker });
    const exp = Math.floor(Date.now() / 1000) + 600;
    const results = [
      await client.revokeToken(await idp.sign({ jti: "w-1" })),
      await client.revokeJti({ jti: "w-2", exp, iss: idp.issuer }),
      await client.revokeSession({ sid: "w-3" }),
      await client.revokeSubject({ sub: "w-4", iss: idp.issuer }),
    ];
    expect(results.map((r) => [r.seq, r.revocation.kind, r.revocation.value])).toEqual([
      [1, "jti", "w-1"],
      [2, "jti", "w-2"],
      [3, "sid", "w-3"],
      [4, "sub", "w-4"],
    ]);
    expect(await client.feed({ since: 1, limit: 2 })).toMatchObject({ events: [{ seq: 2 }, { seq: 3 }], next: 3 });
    const all: number[] = [];
    for await (const event of client.feedAll(0, { limit: 3 })) all.push(event.seq);
    expect(all).toEqual([1, 2, 3, 4]);

    const received: number[] = [];
    const controller = new AbortController();
    const following = client.follow({ since: 2, signal: controller.signal, onEvent: (e) => void received.push(e.seq) });
    await client.revokeSubject({ sub: "w-5" });
    for (let i = 0; i < 200 && received.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    expect(await following).toBe(5);
    expect(received).toEqual([3, 4, 5]);
  });

  it("reads health, with the origin only an admin may see", async () => {
    const { env } = await world();
    const client = new RevocationClient({
      baseUrl: BASE,
      adminToken: ADMIN,
      fetch: (input, init) => send(env, input, init),
    });
    const health = await client.health();
    expect(health).toMatchObject({ status: "ok", revocation: { view: { seq: 0 } } });
    expect(health.issuers.length).toBeGreaterThan(0);
    expect(health).toHaveProperty("originUrl");
  });

  it("keeps a quiet stream open with its heartbeat, answered by the ledger", async () => {
    const { env } = await world();
    const client = new RevocationClient({
      baseUrl: BASE,
      adminToken: ADMIN,
      fetch: (input, init) => send(env, input, init),
    });
    const errors: RevocationClientError[] = [];
    const controller = new AbortController();
    const following = client.follow({
      since: 0,
      heartbeatMs: 100,
      signal: controller.signal,
      onEvent: () => {},
      onError: (e) => void errors.push(e),
    });
    await new Promise((r) => setTimeout(r, 1_000)); // ten heartbeats; silent for 200 ms would drop it
    controller.abort();
    expect(await following).toBe(0);
    expect(errors).toEqual([]);
  });

  it("rejects follow() at once when the admin token is refused", async () => {
    const { env } = await world();
    const client = new RevocationClient({
      baseUrl: BASE,
      adminToken: "wrong-wrong-wrong",
      fetch: (input, init) => send(env, input, init),
    });
    const failed = await client
      .follow({ since: 0, onEvent: () => {}, signal: AbortSignal.timeout(5_000) })
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(RevocationClientError);
    expect(failed).toMatchObject({ status: 401, code: "admin_unauthorized" });
  });
});

describe("retries", () => {
  const ok = () =>
    new Response(JSON.stringify({ seq: 7, revocation: { kind: "sub", value: "u", iss: null, at: 1, expiresAt: 2 } }), {
      status: 200,
    });
  const problem = (status: number, code: string, headers: Record<string, string> = {}) =>
    new Response(
      JSON.stringify({
        type: `urn:edge-jwt-authorizer:problem:${code}`,
        title: "t",
        status,
        detail: `because ${code}`,
        code,
      }),
      {
        status,
        headers: { "Content-Type": "application/problem+json", ...headers },
      },
    );

  /** A fetch that answers from a script, one step per call, and records each call's Idempotency-Key. */
  function scripted(steps: (() => Response | Promise<Response>)[]) {
    const keys: string[] = [];
    const fetch: FetchLike = async (_input, init) => {
      keys.push(init.headers["Idempotency-Key"] ?? "");
      const step = steps[keys.length - 1];
      if (!step) throw new Error("more calls than scripted");
      return step();
    };
    return {
      keys,
      client: (options: { retries?: number; timeoutMs?: number } = {}) =>
        new RevocationClient({ baseUrl: BASE, adminToken: ADMIN, fetch, ...options }),
    };
  }
  const networkError = () => Promise.reject(new TypeError("fetch failed"));

  it("retries network errors and 502/503/504 with one Idempotency-Key, then answers", async () => {
    const s = scripted([
      networkError,
      () => problem(502, "origin_unreachable"),
      () => problem(503, "revocations_unavailable", { "Retry-After": "0" }),
      () => problem(504, "origin_timeout"),
      ok,
    ]);
    const result = await s.client({ retries: 4 }).revokeSubject({ sub: "u" });
    expect(result.seq).toBe(7);
    expect(s.keys).toHaveLength(5);
    expect(new Set(s.keys).size).toBe(1);
    expect(s.keys[0]).toMatch(/^"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"$/);
  });

  it("gives each call its own key", async () => {
    const s = scripted([ok, ok]);
    const client = s.client();
    await client.revokeSubject({ sub: "u" });
    await client.revokeSubject({ sub: "u" });
    expect(s.keys[0]).not.toBe(s.keys[1]);
  });

  it("never retries 400, 401, 403, 413, 422 or 507, and throws the problem's fields", async () => {
    const cases: [number, string][] = [
      [400, "body_invalid"],
      [401, "admin_unauthorized"],
      [403, "forbidden"],
      [413, "body_too_large"],
      [422, "idempotency_key_reused"],
      [507, "revocations_full"],
    ];
    for (const [status, code] of cases) {
      const s = scripted([() => problem(status, code), ok]);
      const error = await s
        .client()
        .revokeSubject({ sub: "u" })
        .catch((e: unknown) => e);
      expect(error, String(status)).toBeInstanceOf(RevocationClientError);
      expect(error).toMatchObject({
        status,
        code,
        detail: `because ${code}`,
        type: `urn:edge-jwt-authorizer:problem:${code}`,
        attempts: 1,
      });
      expect(s.keys).toHaveLength(1);
    }
  });

  it("stops after `retries`, throwing the last failure", async () => {
    const s = scripted([networkError, networkError, networkError]);
    const error = await s
      .client({ retries: 2 })
      .feed()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "RevocationClientError", status: null, code: "network_error", attempts: 3 });
    expect(s.keys).toHaveLength(3);
  });

  it("gives up on an attempt after timeoutMs, even when the fetch ignores its signal", async () => {
    const s = scripted([() => new Promise<Response>(() => {}), ok]);
    const started = Date.now();
    const result = await s.client({ timeoutMs: 100, retries: 1 }).revokeSubject({ sub: "u" });
    expect(result.seq).toBe(7);
    expect(Date.now() - started).toBeLessThan(5_000);
    const never = scripted([() => new Promise<Response>(() => {})]);
    expect(
      await never
        .client({ timeoutMs: 50, retries: 0 })
        .feed()
        .catch((e: unknown) => e),
    ).toMatchObject({ code: "timeout", status: null });
  });

  it("waits what Retry-After asks before the next attempt", async () => {
    const s = scripted([() => problem(503, "revocations_unavailable", { "Retry-After": "1" }), ok]);
    const started = Date.now();
    await s.client().revokeSubject({ sub: "u" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(retryAfterMs("120", 0)).toBe(120_000);
    expect(retryAfterMs("Thu, 01 Jan 1970 00:00:10 GMT", 4_000)).toBe(6_000);
    expect(retryAfterMs("soon", 0)).toBeNull();
  });

  it("stops when the caller aborts, and refuses an answer of the wrong shape", async () => {
    const s = scripted([networkError, ok]);
    const controller = new AbortController();
    const pending = s
      .client()
      .revokeSubject({ sub: "u" }, { signal: controller.signal })
      .catch((e: unknown) => e);
    controller.abort();
    expect(await pending).toMatchObject({ code: "aborted" });
    const odd = scripted([() => new Response(JSON.stringify({ seq: "seven" }), { status: 200 })]);
    expect(
      await odd
        .client()
        .revokeSubject({ sub: "u" })
        .catch((e: unknown) => e),
    ).toMatchObject({ code: "response_invalid" });
  });

  it("refuses options it cannot honour", () => {
    expect(() => new RevocationClient({ baseUrl: "ftp://gw.test", adminToken: ADMIN })).toThrow(TypeError);
    expect(() => new RevocationClient({ baseUrl: BASE, adminToken: "" })).toThrow(TypeError);
    expect(() => new RevocationClient({ baseUrl: BASE, adminToken: ADMIN, retries: 1000 })).toThrow(TypeError);
  });
});

// The client as a user gets it: `edge-jwt-authorizer/client`, resolved through package.json
// "exports" to dist/client (npm run build:client first), against `wrangler dev` with the demo
// issuer and origin, in Node 22 (its global fetch and WebSocket).
import {
  RevocationClient,
  RevocationClientError,
  type FetchLike,
  type RevocationEvent,
} from "edge-jwt-authorizer/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mint } from "../../scripts/demo-keys.mjs";
import { eventually, startStack, type Stack } from "./harness";

const STALENESS_SECONDS = 2;
let stack: Stack;
let client: RevocationClient;
beforeAll(async () => {
  stack = await startStack({ REVOCATION_MAX_STALENESS_SECONDS: String(STALENESS_SECONDS) });
  client = new RevocationClient({ baseUrl: stack.gateway, adminToken: stack.adminToken, timeoutMs: 5_000 });
});
afterAll(async () => {
  await stack?.stop();
});

const token = (claims: Record<string, unknown>) => mint(claims, { file: stack.keyFile, issuer: stack.issuer });
const get = (path: string, t: string) =>
  fetch(`${stack.gateway}${path}`, { headers: { Authorization: `Bearer ${t}` } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function allEvents(since = 0): Promise<RevocationEvent[]> {
  const events: RevocationEvent[] = [];
  for await (const event of client.feedAll(since, { limit: 1000 })) events.push(event);
  return events;
}

describe("RevocationClient against wrangler dev", () => {
  it("revokeToken: the token is denied within REVOCATION_MAX_STALENESS_SECONDS", async () => {
    const t = await token({ sub: "client-alice" });
    expect((await get("/x", t)).status).toBe(200);
    const result = await client.revokeToken(t);
    expect(result.seq).toBeGreaterThan(0);
    expect(result.revocation).toMatchObject({ kind: "jti", iss: stack.issuer });
    const answeredAt = Date.now();
    expect(await eventually(async () => (await get("/x", t)).status === 401, STALENESS_SECONDS * 1000 + 1000)).toBe(
      true,
    );
    console.log(
      `client revokeToken -> first denial: ${Date.now() - answeredAt} ms (bound ${STALENESS_SECONDS * 1000} ms)`,
    );
  });

  it("revokeSubject retried after a lost answer is recorded once, under one Idempotency-Key", async () => {
    const sent: string[] = [];
    let lost = 0;
    // The first answer is lost after the ledger recorded the revoke, and the retry comes a second
    // later: without the key the ledger would move the subject's revocation forward as a new seq.
    const losingFirstAnswer: FetchLike = async (input, init) => {
      const response = await fetch(input, init);
      if (init.method === "POST") sent.push(init.headers["Idempotency-Key"]!);
      if (init.method === "POST" && lost++ === 0) {
        await response.text();
        await sleep(1_100);
        throw new TypeError("fetch failed: connection reset");
      }
      return response;
    };
    const retrying = new RevocationClient({
      baseUrl: stack.gateway,
      adminToken: stack.adminToken,
      fetch: losingFirstAnswer,
    });
    const result = await retrying.revokeSubject({ sub: "client-bob", iss: stack.issuer });
    expect(sent).toHaveLength(2);
    expect(sent[1]).toBe(sent[0]);
    expect(sent[0]).toMatch(/^"[0-9a-f-]{36}"$/);
    const bob = (await allEvents()).filter((e) => e.revocation.value === "client-bob");
    expect(bob.map((e) => e.seq)).toEqual([result.seq]);
    // a new call is a new request: it moves the revocation forward, as it should
    const later = await client.revokeSubject({ sub: "client-bob", iss: stack.issuer });
    expect(later.seq).toBeGreaterThan(result.seq);
  });

  it("feed and feedAll return the events in seq order, page by page", async () => {
    const since = (await allEvents()).at(-1)?.seq ?? 0;
    const revoked: number[] = [];
    for (let i = 0; i < 5; i++) revoked.push((await client.revokeSession({ sid: `client-sid-${i}` })).seq);
    const page = await client.feed({ since, limit: 2 });
    expect(page.events.map((e) => e.seq)).toEqual(revoked.slice(0, 2));
    expect(page.next).toBe(revoked[1]);
    const all: RevocationEvent[] = [];
    for await (const event of client.feedAll(since, { limit: 2 })) all.push(event);
    expect(all.map((e) => e.seq)).toEqual(revoked);
    expect(all.map((e) => e.revocation.value)).toEqual(revoked.map((_, i) => `client-sid-${i}`));
    expect((await client.feed({ since: revoked[4]! })).next).toBeNull();
  });

  it("follow delivers new revocations live and resumes after a gateway restart without gaps or duplicates", async () => {
    await client.revokeSubject({ sub: "client-before-follow" });
    const start = (await allEvents()).at(-1)!.seq;
    const received: RevocationEvent[] = [];
    const errors: RevocationClientError[] = [];
    const controller = new AbortController();
    const following = client.follow({
      since: start - 1, // the backlog then holds one event: its arrival says the stream is open
      signal: controller.signal,
      onEvent: (event) => void received.push(event),
      onError: (error) => void errors.push(error),
      minReconnectDelayMs: 200,
      maxReconnectDelayMs: 1_000,
    });
    try {
      expect(await eventually(() => received.length === 1, 10_000)).toBe(true);
      const live: number[] = [];
      for (let i = 0; i < 3; i++) live.push((await client.revokeSubject({ sub: `client-live-${i}` })).seq);
      expect(await eventually(() => received.length === 4, 10_000)).toBe(true);

      await stack.restartGateway();
      const afterRestart: number[] = [];
      for (let i = 0; i < 3; i++) afterRestart.push((await client.revokeSubject({ sub: `client-after-${i}` })).seq);
      expect(await eventually(() => received.at(-1)?.seq === afterRestart.at(-1), 30_000)).toBe(true);

      const expected = (await allEvents(start - 1)).map((e) => e.seq);
      expect(received.map((e) => e.seq)).toEqual(expected);
      expect(expected).toEqual([start, ...live, ...afterRestart]);
      expect(errors.length).toBeGreaterThan(0); // the drop was reported before reconnecting
      console.log(
        `follow: ${errors.length} connection error(s) reported across the restart, first: ${errors[0]?.detail}`,
      );
    } finally {
      controller.abort();
    }
    expect(await following).toBe(received.at(-1)!.seq);
  });

  it("throws RevocationClientError without retrying what a retry cannot fix: 401, 422", async () => {
    let calls = 0;
    const counting: FetchLike = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const wrong = new RevocationClient({ baseUrl: stack.gateway, adminToken: "not-the-admin-token", fetch: counting });
    const error = await wrong.revokeSubject({ sub: "client-nobody" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RevocationClientError);
    expect(error).toMatchObject({ status: 401, code: "admin_unauthorized", attempts: 1 });
    expect(calls).toBe(1);
    await expect(
      wrong.follow({ since: 0, onEvent: () => {}, signal: AbortSignal.timeout(20_000) }),
    ).rejects.toMatchObject({ status: 401 });

    const key = crypto.randomUUID();
    const right = new RevocationClient({ baseUrl: stack.gateway, adminToken: stack.adminToken, fetch: counting });
    await right.revokeSession({ sid: "client-k1" }, { idempotencyKey: key });
    calls = 0;
    const reused = await right.revokeSession({ sid: "client-k2" }, { idempotencyKey: key }).catch((e: unknown) => e);
    expect(reused).toMatchObject({
      name: "RevocationClientError",
      status: 422,
      code: "idempotency_key_reused",
      attempts: 1,
    });
    expect(calls).toBe(1);
  });
});

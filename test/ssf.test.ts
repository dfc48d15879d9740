// The Shared Signals receiver (src/ssf/): poll delivery (RFC 8936) on the receiver's alarm, SETs
// applied once and acknowledged after, errors reported in setErrs, redelivery after a restart,
// stream verification and status, and push stream control events.
import { env, evictDurableObject, reset, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CAEP_SESSION_REVOKED, RISC_ACCOUNT_DISABLED } from "../src/revocation/security-events";
import type { SignalReceiver } from "../src/ssf/receiver";
import { bearer, makeEnv, send, world } from "./helpers/app";
import { FakeTransmitter, SET_AUD, TX_TOKEN } from "./helpers/transmitter";

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await reset();
});

const ADMIN = { Authorization: "Bearer test-admin-token-0001" };

async function ssfWorld(transmitter: Record<string, unknown> = {}) {
  const w = await world();
  const testEnv = makeEnv({
    ISSUERS: [{ issuer: w.idp.issuer, jwksUri: w.idp.jwksUri, audiences: ["api"], logoutAudiences: [SET_AUD] }],
    POLICY: { routes: [{ path: "/*", revocation: "strict" }] },
    TRANSMITTERS: [
      { issuer: w.idp.issuer, delivery: "poll", streamId: "stream-1", tokenSecret: "SSF_TOKEN", ...transmitter },
    ],
    SSF_TOKEN: TX_TOKEN,
  });
  const tx = new FakeTransmitter(w.idp, w.net);
  const stub = env.SIGNAL_RECEIVER.get(env.SIGNAL_RECEIVER.idFromName(w.idp.issuer));
  // The receiver reads the Worker's configuration from its env: here, the test's.
  const boot = async (receiverEnv: Env = testEnv) => {
    await runInDurableObject(stub, (instance: SignalReceiver) => {
      (instance as unknown as { env: Env }).env = receiverEnv;
    });
    await stub.ensure(w.idp.issuer);
  };
  await boot();
  const run = () => runDurableObjectAlarm(stub);
  const call = async (claims: Record<string, unknown>) =>
    (await send(testEnv, "/x", bearer(await w.idp.sign(claims)))).status;
  const feed = async () =>
    ((await (await send(testEnv, "/.auth/revocations", { headers: ADMIN })).json()) as { events: unknown[] }).events;
  return { ...w, env: testEnv, tx, stub, boot, run, call, feed };
}

describe("poll delivery", () => {
  it("polls with the transmitter's token, applies each SET, acknowledges it in the next poll", async () => {
    const s = await ssfWorld();
    expect(await s.call({ sub: "ann" })).toBe(200);
    const jti = await s.tx.send(RISC_ACCOUNT_DISABLED, { format: "iss_sub", iss: s.idp.issuer, sub: "ann" });
    expect(await s.run()).toBe(true);
    expect(await s.call({ sub: "ann" })).toBe(401);
    expect(s.tx.polls[0]!.authorization).toBe(`Bearer ${TX_TOKEN}`);
    // Applied in this alarm's poll, acknowledged in the next alarm's.
    expect(s.tx.queue.has(jti)).toBe(true);
    await s.run();
    expect(s.tx.polls.some((p) => p.ack.includes(jti))).toBe(true);
    expect(s.tx.queue.has(jti)).toBe(false);
    expect(await s.feed()).toHaveLength(1);
    const status = await s.stub.status();
    expect(status).toMatchObject({ streamId: "stream-1", applied: 1, acknowledged: 1, lastError: null });
  });

  it("never applies a SET twice when it comes again after a restart before its acknowledgement", async () => {
    const s = await ssfWorld();
    const jti = await s.tx.send(CAEP_SESSION_REVOKED, {
      format: "complex",
      session: { format: "opaque", id: "sid-9" },
    });
    await s.run(); // applied; its acknowledgement waits for the next poll
    s.tx.dropAcks = true;
    await s.run(); // the acknowledgement is lost: the SET comes again, and is recognised
    await evictDurableObject(s.stub); // a restart (workerd lets the evicted object finish: about 5 s here)
    await s.boot();
    s.tx.dropAcks = false;
    await s.run();
    expect(s.tx.queue.has(jti)).toBe(false);
    expect(s.tx.polls.filter((p) => p.ack.includes(jti)).length).toBeGreaterThanOrEqual(2);
    expect(await s.feed()).toHaveLength(1); // one sid entry, applied once
    expect(await s.call({ sub: "bo", sid: "sid-9" })).toBe(401);
  });

  it("reports a SET at fault in setErrs and keeps one that met an outage for later", async () => {
    const s = await ssfWorld();
    const bad = await s.tx.send(RISC_ACCOUNT_DISABLED, { format: "phone_number", phone_number: "+1" });
    const otherIssuer = await s.tx.send(RISC_ACCOUNT_DISABLED, { format: "iss_sub", iss: "https://x.test", sub: "a" });
    await s.run();
    await s.run(); // the refusals go back in the next poll
    const errs = Object.assign({}, ...s.tx.polls.map((p) => p.setErrs)) as Record<string, { err: string }>;
    expect(errs[bad]!.err).toBe("invalid_request");
    expect(errs[otherIssuer]!.err).toBe("invalid_request");
    // The ledger cannot be reached: not the SET's fault, so neither acknowledged nor reported.
    const unreachable = {
      idFromName: (name: string) => name,
      get: () => ({ revokeOnce: () => Promise.reject(new Error("overloaded")) }),
    };
    await s.boot({ ...s.env, REVOCATION_LEDGER: unreachable } as unknown as Env);
    const later = await s.tx.send(RISC_ACCOUNT_DISABLED, { format: "iss_sub", iss: s.idp.issuer, sub: "cy" });
    await s.run();
    expect(s.tx.queue.has(later)).toBe(true);
    expect(Object.keys(s.tx.polls.at(-1)!.setErrs)).not.toContain(later);
    await s.boot();
    await s.run();
    await s.run();
    expect(s.tx.queue.has(later)).toBe(false);
    expect(await s.call({ sub: "cy" })).toBe(401);
  });

  it("asks for verification, and the echoed state verifies the stream; stream-updated says paused", async () => {
    const s = await ssfWorld();
    await s.run(); // asks for verification; the verification SET is queued
    expect(s.tx.verifications).toHaveLength(1);
    await s.run(); // polls it
    const status = await s.stub.status();
    expect(status.verification.state).toBe(s.tx.verifications[0]);
    expect(status.verification.verifiedAt).not.toBeNull();
    expect(status.stream.status).toBe("enabled");
    await s.tx.send(
      "https://schemas.openid.net/secevent/ssf/event-type/stream-updated",
      { format: "opaque", id: "stream-1" },
      { status: "paused", reason: "maintenance" },
    );
    await s.run();
    expect((await s.stub.status()).stream).toMatchObject({ status: "paused", reason: "maintenance" });
    const health = (await (await send(s.env, "/.auth/health")).json()) as { transmitters: unknown[] };
    expect(health.transmitters).toEqual([
      expect.objectContaining({
        issuer: s.idp.issuer,
        delivery: "poll",
        stream: expect.objectContaining({ status: "paused" }),
      }),
    ]);
    expect(JSON.stringify(health)).not.toContain(TX_TOKEN);
  });

  it("keeps a stream it created across a failure: read again by its id, never created twice", async () => {
    const s = await ssfWorld({ streamId: undefined });
    await s.run();
    expect(s.tx.streamCalls).toEqual(["POST "]);
    s.tx.down = true;
    await s.run();
    s.tx.down = false;
    await s.run();
    expect(s.tx.streamCalls).toEqual(["POST ", "GET stream-1"]);
  });

  it("says so in health when a SET had to be left for redelivery", async () => {
    const s = await ssfWorld();
    const unreachable = {
      idFromName: (n: string) => n,
      get: () => ({ revokeOnce: () => Promise.reject(new Error("x")) }),
    };
    await s.boot({ ...s.env, REVOCATION_LEDGER: unreachable } as unknown as Env);
    await s.tx.send(RISC_ACCOUNT_DISABLED, { format: "iss_sub", iss: s.idp.issuer, sub: "dee" });
    await s.run();
    expect((await s.stub.status()).lastError).toMatch(/left for redelivery/);
  });

  it("backs off while the transmitter is down, and says why", async () => {
    const s = await ssfWorld();
    s.tx.down = true;
    await s.run();
    const status = await s.stub.status();
    expect(status.lastError).toMatch(/unreachable/);
    await runInDurableObject(s.stub, async (_: SignalReceiver, state) => {
      expect((await state.storage.getAlarm())! - Date.now()).toBeGreaterThan(10_000);
    });
  });
});

describe("configuration", () => {
  it("refuses a transmitter that is not an issuer with logoutAudiences, or polls without a token", async () => {
    const w = await world();
    const issuers = [{ issuer: w.idp.issuer, jwksUri: w.idp.jwksUri, audiences: ["api"] }];
    for (const [transmitters, why] of [
      [[{ issuer: "https://nowhere.test" }], /one of ISSUERS/],
      [[{ issuer: w.idp.issuer }], /logoutAudiences/],
    ] as const) {
      const res = await send(makeEnv({ ISSUERS: issuers, TRANSMITTERS: transmitters }), "/x");
      expect(JSON.stringify(await res.json())).toMatch(why);
    }
    const withAud = [{ ...issuers[0], logoutAudiences: [SET_AUD] }];
    const noToken = await send(
      makeEnv({ ISSUERS: withAud, TRANSMITTERS: [{ issuer: w.idp.issuer, delivery: "poll" }] }),
      "/x",
    );
    expect(JSON.stringify(await noToken.json())).toMatch(/tokenSecret/);
    const unset = await send(
      makeEnv({ ISSUERS: withAud, TRANSMITTERS: [{ issuer: w.idp.issuer, delivery: "poll", tokenSecret: "NOT_SET" }] }),
      "/x",
    );
    expect(JSON.stringify(await unset.json())).toMatch(/NOT_SET is not set/);
    const unbound = await send(
      makeEnv({ ISSUERS: withAud, TRANSMITTERS: [{ issuer: w.idp.issuer }], SIGNAL_RECEIVER: undefined }),
      "/x",
    );
    expect(JSON.stringify(await unbound.json())).toMatch(/SIGNAL_RECEIVER/);
  });
});

describe("push delivery", () => {
  it("hands stream control events to the receiver", async () => {
    const s = await ssfWorld({ delivery: "push" });
    const { SSF_STREAM_UPDATED } = await import("../src/revocation/security-events");
    const set = await s.idp.sign(
      {
        aud: SET_AUD,
        exp: null,
        sub: null,
        sub_id: { format: "opaque", id: "stream-1" },
        events: { [SSF_STREAM_UPDATED]: { status: "disabled", reason: "offboarded" } },
      },
      { header: { typ: "secevent+jwt" } },
    );
    const res = await send(s.env, "/.auth/events", {
      method: "POST",
      headers: { "Content-Type": "application/secevent+jwt" },
      body: set,
    });
    expect(res.status).toBe(202);
    expect((await s.stub.status()).stream).toMatchObject({ status: "disabled", reason: "offboarded" });
  });
});

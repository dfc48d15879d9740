// The edge's view of revocations: no KV read per request, one background refresh late in each
// staleness window, never a read shared between requests, the last view kept through KV failures,
// and cold loads from snapshots.
import { env, reset, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import {
  SEGMENTS_BEFORE_SNAPSHOT,
  TAIL_MAX_ENTRIES,
  HEAD_KEY,
  snapshotKey,
  type Head,
} from "../src/revocation/kv-layout";
import { ledgerOf, type RevocationLedger } from "../src/revocation/ledger";
import type { Revocation } from "../src/revocation/model";
import { publish } from "../src/revocation/publisher";
import { record } from "../src/revocation/store";
import { probeOf } from "../src/revocation/hashed-index";
import { KV_PROPAGATION_MS, RevocationView, REFRESH_RETRY_MS } from "../src/revocation/view";
import { FlakyKv } from "./helpers/kv";

afterEach(async () => {
  await reset();
});

const ISS = "https://i.test";
const nowSec = () => Math.floor(Date.now() / 1000);
const jti = (value: string): Revocation => ({ kind: "jti", value, iss: ISS, at: nowSec(), expiresAt: nowSec() + 600 });
const STALE_MS = 5_000;

describe("RevocationView", () => {
  it("does no KV read per request while the view is fresh", async () => {
    const kv = new FlakyKv();
    const view = new RevocationView(kv.binding());
    const t0 = Date.now();
    await view.ensureFresh(STALE_MS, t0);
    const reads = kv.reads;
    for (let i = 0; i < 1000; i++) {
      await view.ensureFresh(STALE_MS, t0 + 4_999);
      expect(view.revokedBy(await probeOf({ iss: ISS, jti: `j${i}` }))).toBeNull();
    }
    expect(kv.reads).toBe(reads);
  });

  it("sees a revocation on the first check after the staleness bound, not before", async () => {
    const kv = new FlakyKv();
    const view = new RevocationView(kv.binding());
    const t0 = Date.now();
    await view.ensureFresh(STALE_MS, t0);
    await ledgerOf(env).revoke(jti("late"));
    await view.ensureFresh(STALE_MS, t0 + 4_000);
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "late" }))).toBeNull(); // within the bound: the old view
    await view.ensureFresh(STALE_MS, t0 + 5_000);
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "late" }))).toBe("jti");
  });

  it("reads only the tiny version key when nothing changed", async () => {
    const kv = new FlakyKv();
    const view = new RevocationView(kv.binding());
    await ledgerOf(env).revoke(jti("x"));
    const t0 = Date.now();
    await view.ensureFresh(STALE_MS, t0);
    const reads = kv.reads;
    await view.ensureFresh(STALE_MS, t0 + 6_000);
    expect(kv.reads - reads).toBe(1);
  });

  it("refreshes ahead late in the window: one background read per window that no request waits for", async () => {
    const kv = new FlakyKv();
    const view = new RevocationView(kv.binding());
    const t0 = Date.now();
    await view.ensureFresh(STALE_MS, t0);
    await ledgerOf(env).revoke(jti("ahead"));
    const background: Promise<unknown>[] = [];
    const reads = kv.reads;
    await Promise.all(
      Array.from({ length: 50 }, () => view.ensureFresh(STALE_MS, t0 + 4_000, (p) => background.push(p))),
    );
    expect(background).toHaveLength(1);
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "ahead" }))).toBeNull(); // answered from the view, no wait
    await Promise.all(background);
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "ahead" }))).toBe("jti");
    expect(kv.reads - reads).toBe(2); // version + head, once
    // Refreshed at t0 + 4 s: fresh until t0 + 9 s, with no read on the way.
    await view.ensureFresh(STALE_MS, t0 + 5_500, (p) => background.push(p));
    expect([background.length, kv.reads - reads]).toEqual([1, 2]);
  });

  it("lets requests that find it stale read for themselves, and never moves back to an older head", async () => {
    await ledgerOf(env).revoke(jti("first"));
    // The first refresh reads the head, then stalls while a newer revocation lands and another
    // refresh completes.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let stalled = false;
    const slow = {
      get: async (key: string, type?: unknown) => {
        const value = await (env.REVOCATIONS.get as (k: string, t?: unknown) => Promise<unknown>)(key, type);
        if (key === HEAD_KEY && !stalled) {
          stalled = true;
          await gate;
        }
        return value;
      },
    } as unknown as KVNamespace;
    const view = new RevocationView(slow);
    const first = view.ensureFresh(STALE_MS, Date.now());
    while (!stalled) await new Promise((r) => setTimeout(r, 5));
    await ledgerOf(env).revoke(jti("second"));
    await view.ensureFresh(STALE_MS, Date.now());
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "second" }))).toBe("jti");
    release();
    await first;
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "second" }))).toBe("jti");
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "first" }))).toBe("jti");
    expect(view.status(Date.now()).seq).toBe(2);
  });

  it("keeps the last view when a refresh fails but no longer vouches with it, and retries after a pause", async () => {
    const kv = new FlakyKv();
    const view = new RevocationView(kv.binding());
    await ledgerOf(env).revoke(jti("kept"));
    const t0 = Date.now();
    expect(await view.ensureFresh(STALE_MS, t0)).toBe(true);
    kv.failReads = true;
    expect(await view.ensureFresh(STALE_MS, t0 + 4_999)).toBe(true); // within the window: no read
    expect(await view.ensureFresh(STALE_MS, t0 + 6_000)).toBe(false); // past it, and KV failed
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "kept" }))).toBe("jti");
    expect(view.status(t0 + 6_000).lastError).toBe("KV read failed");
    const reads = kv.reads;
    expect(await view.ensureFresh(STALE_MS, t0 + 6_000 + REFRESH_RETRY_MS - 1)).toBe(false);
    expect(kv.reads).toBe(reads);
    kv.failReads = false;
    await ledgerOf(env).revoke(jti("after"));
    expect(await view.ensureFresh(STALE_MS, t0 + 6_000 + REFRESH_RETRY_MS)).toBe(true);
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "after" }))).toBe("jti");
  });

  it("keeps vouching through KV's propagation (a key its head names not visible yet), but not beyond", async () => {
    const kv = new FlakyKv();
    const view = new RevocationView(kv.binding());
    await ledgerOf(env).revoke(jti("seen"));
    const t0 = Date.now();
    expect(await view.ensureFresh(STALE_MS, t0)).toBe(true);
    await ledgerOf(env).revoke(jti("late"));
    kv.hidden = (key) => key === HEAD_KEY; // the new version is visible here, its head not yet
    expect(await view.ensureFresh(STALE_MS, t0 + 6_000)).toBe(true);
    expect(view.status(t0 + 6_000).lastError).toBe("a key named by the head is not visible yet");
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "late" }))).toBeNull(); // within the bound on Cloudflare
    expect(await view.ensureFresh(STALE_MS, t0 + STALE_MS + KV_PROPAGATION_MS)).toBe(false);
    kv.hidden = () => false;
    expect(await view.ensureFresh(STALE_MS, t0 + STALE_MS + KV_PROPAGATION_MS + REFRESH_RETRY_MS)).toBe(true);
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "late" }))).toBe("jti");
  });

  it("refuses to vouch for tokens when it has never loaded and KV fails", async () => {
    const kv = new FlakyKv();
    kv.failReads = true;
    const view = new RevocationView(kv.binding());
    expect(await view.ensureFresh(STALE_MS, Date.now())).toBe(false);
  });

  it("loads cold from a snapshot plus segments plus the tail, and a lagging view reloads", async () => {
    const stub = ledgerOf(env);
    const lagging = new RevocationView(env.REVOCATIONS);
    await stub.revoke(jti("first"));
    await lagging.ensureFresh(STALE_MS, Date.now());
    const batches = SEGMENTS_BEFORE_SNAPSHOT + 2;
    const zedAt = nowSec(); // one instant for the revocation and the token checked against it
    await runInDurableObject(stub, async (_: RevocationLedger, state) => {
      for (let b = 0; b < batches; b++) {
        for (let i = 0; i <= TAIL_MAX_ENTRIES; i++) record(state.storage.sql, jti(`b${b}-${i}`), nowSec());
        await publish(state.storage.sql, env.REVOCATIONS);
      }
      record(state.storage.sql, { kind: "sub", value: "zed", iss: null, at: zedAt, expiresAt: zedAt + 86400 }, zedAt);
      await publish(state.storage.sql, env.REVOCATIONS);
    });
    const head = await env.REVOCATIONS.get<Head>(HEAD_KEY, "json");
    expect(head!.snapshot).not.toBeNull();
    expect(head!.segments.length).toBeGreaterThan(0);
    const cold = new RevocationView(env.REVOCATIONS);
    await cold.ensureFresh(STALE_MS, Date.now());
    const total = 1 + batches * (TAIL_MAX_ENTRIES + 1) + 1;
    expect(cold.status(Date.now()).entries).toBe(total);
    expect(cold.revokedBy(await probeOf({ iss: ISS, jti: "first" }))).toBe("jti");
    expect(cold.revokedBy(await probeOf({ iss: ISS, jti: `b${batches - 1}-${TAIL_MAX_ENTRIES}` }))).toBe("jti");
    expect(cold.revokedBy(await probeOf({ iss: ISS, sub: "zed", iat: zedAt }))).toBe("sub");
    await lagging.ensureFresh(STALE_MS, Date.now() + 10_000);
    expect(lagging.status(Date.now()).entries).toBe(total);
  });

  // Regression: a sealed tail was one segment however long (a KV outage's whole backlog) and a
  // snapshot chunk 20 000 entries however large: past KV's 25 MiB per value, every retry failed alike.
  it("bounds every segment and snapshot chunk in bytes: a backlog of long entries is split, and a cold view loads it all", async () => {
    const stub = ledgerOf(env);
    const long = (i: number): Revocation => ({
      ...jti(`${i}-${"v".repeat(1000)}`),
      iss: `https://${"i".repeat(2000)}.test`,
    });
    const sizes: number[] = [];
    const kv = new FlakyKv();
    const recording = {
      ...kv.binding(),
      put: (key: string, value: string | Uint8Array) => (
        sizes.push(typeof value === "string" ? new TextEncoder().encode(value).length : value.byteLength),
        env.REVOCATIONS.put(key, value)
      ),
    } as KVNamespace;
    const limit = 64 * 1024;
    await runInDurableObject(stub, async (_: RevocationLedger, state) => {
      // A backlog of 300 (over the 256 kept inline), published at once: several segments.
      for (let i = 0; i < 300; i++) record(state.storage.sql, long(i), nowSec());
      await publish(state.storage.sql, recording, limit);
      let head = (await env.REVOCATIONS.get<Head>(HEAD_KEY, "json"))!;
      expect(head.segments.length).toBeGreaterThan(1);
      expect(head.snapshot).toBeNull();
      // A cold view reads every segment of the split backlog back, range by range.
      const fromSegments = new RevocationView(env.REVOCATIONS);
      expect(await fromSegments.ensureFresh(STALE_MS, Date.now())).toBe(true);
      expect(fromSegments.status(Date.now()).entries).toBe(300);
      for (const i of [0, 150, 299])
        expect(fromSegments.revokedBy(await probeOf({ iss: long(i).iss!, jti: long(i).value })), `entry ${i}`).toBe(
          "jti",
        );
      // A backlog needing more segments than a head lists before compacting: straight to a snapshot.
      for (let i = 300; i < 300 + 64 * 25; i++) record(state.storage.sql, long(i), nowSec());
      await publish(state.storage.sql, recording, limit);
      head = (await env.REVOCATIONS.get<Head>(HEAD_KEY, "json"))!;
      // A snapshot record is 12 bytes whatever the entry's length: 1 900 of them fit one chunk.
      expect(head.snapshot).toMatchObject({ records: true, chunks: 1 });
      expect(head.segments).toEqual([]);
    });
    expect(Math.max(...sizes)).toBeLessThanOrEqual(limit);
    const cold = new RevocationView(env.REVOCATIONS);
    expect(await cold.ensureFresh(STALE_MS, Date.now())).toBe(true);
    expect(cold.status(Date.now()).entries).toBe(300 + 64 * 25);
    expect(cold.revokedBy(await probeOf({ iss: long(0).iss!, jti: long(0).value }))).toBe("jti");
    expect(cold.revokedBy(await probeOf({ iss: long(1899).iss!, jti: long(1899).value }))).toBe("jti");
  });

  it("splits the snapshot's records into chunks of at most the value bound, and a cold view searches them all", async () => {
    const stub = ledgerOf(env);
    await runInDurableObject(stub, async (_: RevocationLedger, state) => {
      // Each entry's JSON is over the 1 200-byte bound: 300 one-entry segments, more than a head
      // lists, so straight to a snapshot, whose records (100 per 1 200 bytes) take 3 chunks.
      for (let i = 0; i < 300; i++) record(state.storage.sql, { ...jti(`${i}-${"v".repeat(1200)}`) }, nowSec());
      await publish(state.storage.sql, env.REVOCATIONS, 1200);
    });
    const head = (await env.REVOCATIONS.get<Head>(HEAD_KEY, "json"))!;
    expect(head.snapshot).toMatchObject({ records: true, chunks: 3 });
    const cold = new RevocationView(env.REVOCATIONS);
    expect(await cold.ensureFresh(STALE_MS, Date.now())).toBe(true);
    expect(cold.status(Date.now()).entries).toBe(300);
    for (const i of [0, 99, 100, 199, 200, 299])
      expect(cold.revokedBy(await probeOf({ iss: ISS, jti: `${i}-${"v".repeat(1200)}` })), `entry ${i}`).toBe("jti");
    expect(cold.revokedBy(await probeOf({ iss: ISS, jti: "never-revoked" }))).toBeNull();
  });

  it("still reads a snapshot of JSON entries written before the records existed, hashing them itself", async () => {
    const t = nowSec();
    const legacy = [
      [1, "jti", ISS, "old-jti", t, t + 600],
      [2, "sub", "", "old-sub", t, t + 86400],
    ];
    await env.REVOCATIONS.put(snapshotKey(2, 0), JSON.stringify(legacy));
    await env.REVOCATIONS.put(
      HEAD_KEY,
      JSON.stringify({
        seq: 3,
        snapshot: { seq: 2, chunks: 1 },
        segments: [],
        tail: [[3, "sid", ISS, "new-sid", t, t + 86400]],
      }),
    );
    await env.REVOCATIONS.put("revocations/version", "3");
    const cold = new RevocationView(env.REVOCATIONS);
    expect(await cold.ensureFresh(STALE_MS, Date.now())).toBe(true);
    expect(cold.revokedBy(await probeOf({ iss: ISS, jti: "old-jti" }))).toBe("jti");
    expect(cold.revokedBy(await probeOf({ iss: "https://any.test", sub: "old-sub", iat: t }))).toBe("sub");
    expect(cold.revokedBy(await probeOf({ iss: ISS, sid: "new-sid", iat: t }))).toBe("sid");
    expect(cold.status(Date.now()).entries).toBe(3);
  });

  it("matches sub and sid by iat, per issuer, and a wildcard issuer everywhere", async () => {
    const stub = ledgerOf(env);
    const t = nowSec();
    await stub.revoke({ kind: "sub", value: "alice", iss: ISS, at: t, expiresAt: t + 86400 });
    await stub.revoke({ kind: "sid", value: "s1", iss: null, at: t, expiresAt: t + 86400 });
    await stub.revoke({ kind: "token", value: "a".repeat(64), iss: ISS, at: t, expiresAt: t + 600 });
    const view = new RevocationView(env.REVOCATIONS);
    await view.ensureFresh(STALE_MS, Date.now());
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "j", sub: "alice", iat: t }))).toBe("sub");
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "j", sub: "alice", iat: t + 1 }))).toBeNull();
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "j", sub: "alice" }))).toBe("sub");
    expect(view.revokedBy(await probeOf({ iss: "https://other.test", jti: "j", sub: "alice", iat: t }))).toBeNull();
    expect(view.revokedBy(await probeOf({ iss: "https://other.test", jti: "j", sid: "s1", iat: t - 5 }))).toBe("sid");
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "j", sid: "s2", iat: t - 5 }))).toBeNull();
    expect(view.revokedBy(await probeOf({ iss: ISS, tokenSha256: "a".repeat(64) }))).toBe("token");
  });
});

// The edge's view of revocations: no KV read per request, at most one refresh per staleness window
// (single flight), the last view kept through KV failures, and cold loads from snapshots.
import { env, reset, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { SEGMENTS_BEFORE_SNAPSHOT, TAIL_MAX_ENTRIES, HEAD_KEY, type Head } from "../src/revocation/kv-layout";
import { ledgerOf, type RevocationLedger } from "../src/revocation/ledger";
import type { Revocation } from "../src/revocation/model";
import { publish } from "../src/revocation/publisher";
import { record } from "../src/revocation/store";
import { RevocationView, REFRESH_RETRY_MS } from "../src/revocation/view";
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
      expect(view.revokedBy({ iss: ISS, jti: `j${i}` })).toBeNull();
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
    expect(view.revokedBy({ iss: ISS, jti: "late" })).toBeNull(); // within the bound: the old view
    await view.ensureFresh(STALE_MS, t0 + 5_000);
    expect(view.revokedBy({ iss: ISS, jti: "late" })).toBe("jti");
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

  it("shares one refresh between concurrent requests (single flight)", async () => {
    const kv = new FlakyKv();
    const view = new RevocationView(kv.binding());
    await ledgerOf(env).revoke(jti("y"));
    await Promise.all(Array.from({ length: 50 }, () => view.ensureFresh(STALE_MS, Date.now())));
    expect(kv.reads).toBe(2); // version + head, once
  });

  it("keeps the last view when a refresh fails, and retries after a pause", async () => {
    const kv = new FlakyKv();
    const view = new RevocationView(kv.binding());
    await ledgerOf(env).revoke(jti("kept"));
    const t0 = Date.now();
    await view.ensureFresh(STALE_MS, t0);
    kv.failReads = true;
    await view.ensureFresh(STALE_MS, t0 + 6_000);
    expect(view.revokedBy({ iss: ISS, jti: "kept" })).toBe("jti");
    expect(view.status(t0 + 6_000).lastError).toBe("KV read failed");
    const reads = kv.reads;
    await view.ensureFresh(STALE_MS, t0 + 6_000 + REFRESH_RETRY_MS - 1);
    expect(kv.reads).toBe(reads);
    kv.failReads = false;
    await ledgerOf(env).revoke(jti("after"));
    await view.ensureFresh(STALE_MS, t0 + 6_000 + REFRESH_RETRY_MS);
    expect(view.revokedBy({ iss: ISS, jti: "after" })).toBe("jti");
  });

  it("refuses to vouch for tokens when it has never loaded and KV fails", async () => {
    const kv = new FlakyKv();
    kv.failReads = true;
    const view = new RevocationView(kv.binding());
    await expect(view.ensureFresh(STALE_MS, Date.now())).rejects.toMatchObject({ code: "revocations_unavailable" });
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
    expect(cold.revokedBy({ iss: ISS, jti: "first" })).toBe("jti");
    expect(cold.revokedBy({ iss: ISS, jti: `b${batches - 1}-${TAIL_MAX_ENTRIES}` })).toBe("jti");
    expect(cold.revokedBy({ iss: ISS, sub: "zed", iat: zedAt })).toBe("sub");
    await lagging.ensureFresh(STALE_MS, Date.now() + 10_000);
    expect(lagging.status(Date.now()).entries).toBe(total);
  });

  it("matches sub and sid by iat, per issuer, and a wildcard issuer everywhere", async () => {
    const stub = ledgerOf(env);
    const t = nowSec();
    await stub.revoke({ kind: "sub", value: "alice", iss: ISS, at: t, expiresAt: t + 86400 });
    await stub.revoke({ kind: "sid", value: "s1", iss: null, at: t, expiresAt: t + 86400 });
    await stub.revoke({ kind: "token", value: "a".repeat(64), iss: ISS, at: t, expiresAt: t + 600 });
    const view = new RevocationView(env.REVOCATIONS);
    await view.ensureFresh(STALE_MS, Date.now());
    expect(view.revokedBy({ iss: ISS, jti: "j", sub: "alice", iat: t })).toBe("sub");
    expect(view.revokedBy({ iss: ISS, jti: "j", sub: "alice", iat: t + 1 })).toBeNull();
    expect(view.revokedBy({ iss: ISS, jti: "j", sub: "alice" })).toBe("sub");
    expect(view.revokedBy({ iss: "https://other.test", jti: "j", sub: "alice", iat: t })).toBeNull();
    expect(view.revokedBy({ iss: "https://other.test", jti: "j", sid: "s1", iat: t - 5 })).toBe("sid");
    expect(view.revokedBy({ iss: ISS, jti: "j", sid: "s2", iat: t - 5 })).toBeNull();
    expect(view.revokedBy({ iss: ISS, tokenSha256: "a".repeat(64) })).toBe("token");
  });
});

// The fresh path (src/revocation/fresh-head.ts): the ledger's newest entries, through the cached
// RevocationHead entrypoint, reach a view while KV does not show them yet; when the head fails the
// view falls back to KV with a jittered backoff, and a valid token is never denied because of it.
import { createExecutionContext, env, reset, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { FRESH_MAX_ENTRIES, FRESH_WINDOW_SECONDS } from "../src/constants";
import {
  FRESH_CACHE_CONTROL,
  FRESH_HEAD_MAX_AGE_MS,
  headFetcher,
  refreshWindowMs,
  type FetchHead,
  type FreshHead,
} from "../src/revocation/fresh-head";
import { probeOf } from "../src/revocation/hashed-index";
import { ledgerOf, type RevocationLedger } from "../src/revocation/ledger";
import type { Revocation } from "../src/revocation/model";
import { FRESH_RETRY_BASE_MS, FRESH_RETRY_MAX_MS, RevocationView } from "../src/revocation/view";
import { bearer, freezeClock, GATEWAY, world } from "./helpers/app";
import { FlakyKv } from "./helpers/kv";

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await reset();
});

const ISS = "https://i.test";
const STALE_MS = 5_000;
const nowSec = () => Math.floor(Date.now() / 1000);
const jti = (value: string): Revocation => ({ kind: "jti", value, iss: ISS, at: nowSec(), expiresAt: nowSec() + 600 });
/** KV as a location sees it before a write has reached it: every key absent. */
const unseenKv = () => Object.assign(new FlakyKv(), { hidden: () => true });
const fromLedger: FetchHead = async () => (await ledgerOf(env).freshHead()) as FreshHead;

describe("the ledger's fresh head", () => {
  it("carries the entries of the last window with their hashes, and a from below them", async () => {
    const clock = freezeClock();
    const stub = ledgerOf(env);
    await stub.revoke(jti("old"));
    clock.advance(FRESH_WINDOW_SECONDS + 1);
    await stub.revoke(jti("a"));
    await stub.revoke(jti("b"));
    const head = await stub.freshHead();
    expect(head).toMatchObject({ seq: 3, from: 1 });
    expect(head.entries.map((e) => [e[0], e[3], String(e[6]).length])).toEqual([
      [2, "a", 16],
      [3, "b", 16],
    ]);
    clock.advance(FRESH_WINDOW_SECONDS + 1);
    expect(await stub.freshHead()).toMatchObject({ seq: 3, from: 3, entries: [] });
  });

  it(`holds at most ${FRESH_MAX_ENTRIES} entries, the newest, and says where they start`, async () => {
    const stub = ledgerOf(env);
    await runInDurableObject(stub, (_: RevocationLedger, state) => {
      state.storage.sql.exec(
        `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
         INSERT INTO revocations (kind, iss, value, at, expires_at, revoked_at, h) SELECT 'jti', '', 'burst-' || x, ?, 4000000000, ?, printf('%016x', x) FROM n`,
        FRESH_MAX_ENTRIES + 500,
        nowSec(),
        nowSec(),
      );
    });
    const head = await stub.freshHead();
    expect(head.entries).toHaveLength(FRESH_MAX_ENTRIES);
    expect(head.from).toBe(500);
    expect(head.entries[0]![0]).toBe(501);
  });

  it("is served by RevocationHead as cacheable for one second, never stale on error", async () => {
    const ctx = createExecutionContext();
    const response = await (
      ctx as unknown as { exports: { RevocationHead: { fetch: (u: string) => Promise<Response> } } }
    ).exports.RevocationHead.fetch("https://h/");
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe(FRESH_CACHE_CONTROL);
    expect(FRESH_CACHE_CONTROL).toMatch(/stale-if-error=0/);
    expect(await headFetcher(ctx)!()).toMatchObject({ seq: 0, entries: [] });
  });
});

describe("the refresh window", () => {
  it("is a second shorter through the fresh head (a head can be 2 s old behind a tiered cache), never under a second", () => {
    expect(refreshWindowMs(5_000, true)).toBe(4_000);
    expect(refreshWindowMs(5_000, false)).toBe(5_000);
    expect(refreshWindowMs(1_000, true)).toBe(1_000);
    expect(refreshWindowMs(5_000, true) + FRESH_HEAD_MAX_AGE_MS).toBe(5_000 + 1_000); // the bound
  });
});

describe("a view with the fresh head", () => {
  it("denies a revocation KV does not show yet, within the staleness window, reading no KV key", async () => {
    const kv = unseenKv();
    const view = new RevocationView(kv.binding());
    const t0 = Date.now();
    await view.ensureFresh(STALE_MS, t0, undefined, fromLedger);
    await ledgerOf(env).revoke(jti("stolen"));
    const reads = kv.reads;
    expect(await view.ensureFresh(STALE_MS, t0 + STALE_MS, undefined, fromLedger)).toBe(true);
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "stolen" }))).toBe("jti");
    expect(kv.reads).toBe(reads); // the head covered everything after the view
    expect(view.status(Date.now())).toMatchObject({ path: "fresh", freshFailures: 0 });
  });

  it("falls back to KV when the head fails, and asks it again only after a jittered, growing backoff", async () => {
    let calls = 0;
    let failing = true;
    const head: FetchHead = async () => {
      calls++;
      if (failing) throw new Error("overloaded");
      return fromLedger();
    };
    const view = new RevocationView(new FlakyKv().binding());
    await ledgerOf(env).revoke(jti("via-kv"));
    const t0 = Date.now();
    // Every second for two minutes, as if each window's first request refreshed: never a denial of
    // a valid token, the KV path in use, and the head asked a handful of times, not 120.
    for (let s = 0; s < 120; s++) {
      expect(await view.ensureFresh(1_000, t0 + s * 1_000, undefined, head)).toBe(true);
      expect(view.revokedBy(await probeOf({ iss: ISS, jti: "valid" }))).toBeNull();
    }
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "via-kv" }))).toBe("jti");
    expect(view.status(Date.now())).toMatchObject({ path: "kv" });
    // Backoffs of 2.5-5, 5-10, 10-20, 20-40 and then 30-60 s: at most 8 tries in 120 s, at least 3.
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(calls).toBeLessThanOrEqual(8);
    failing = false;
    await view.ensureFresh(1_000, t0 + 120_000 + FRESH_RETRY_MAX_MS, undefined, head);
    expect(view.status(Date.now())).toMatchObject({ path: "fresh", freshFailures: 0 });
    expect(FRESH_RETRY_BASE_MS).toBeLessThan(FRESH_RETRY_MAX_MS);
  });

  it("stays up to date through the head when it names a KV snapshot this location cannot see yet", async () => {
    const kv = unseenKv();
    const view = new RevocationView(kv.binding());
    let head: FreshHead = { seq: 0, from: 0, entries: [], snapshotSeq: 0 };
    const t0 = Date.now();
    expect(await view.ensureFresh(STALE_MS, t0, undefined, async () => head)).toBe(true);
    head = { seq: 7, from: 0, entries: [[7, "jti", ISS, "after-snapshot", nowSec(), nowSec() + 600]], snapshotSeq: 6 };
    expect(await view.ensureFresh(STALE_MS, t0 + STALE_MS, undefined, async () => head)).toBe(true);
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "after-snapshot" }))).toBe("jti");
    expect(view.status(Date.now())).toMatchObject({ seq: 7, path: "fresh", lastError: null });
  });

  it("reads KV first when the head starts after the view (a cold isolate, or one behind), then applies it", async () => {
    const view = new RevocationView(new FlakyKv().binding());
    await ledgerOf(env).revoke(jti("in-kv"));
    const head: FreshHead = {
      seq: 5,
      from: 1,
      entries: [[5, "jti", ISS, "only-fresh", nowSec(), nowSec() + 600]],
      snapshotSeq: 0,
    };
    expect(await view.ensureFresh(STALE_MS, Date.now(), undefined, async () => head)).toBe(true);
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "in-kv" }))).toBe("jti");
    expect(view.revokedBy(await probeOf({ iss: ISS, jti: "only-fresh" }))).toBe("jti");
    expect(view.status(Date.now())).toMatchObject({ seq: 5, path: "fresh" });
  });
});

describe("through the Worker", () => {
  it("denies a revoked token on an eventual route within the window while KV shows nothing, and health says fresh", async () => {
    const w = await world({ REVOCATION_MAX_STALENESS_SECONDS: 1 });
    const e = { ...w.env, REVOCATIONS: unseenKv().binding() } as Env;
    const token = await w.idp.sign({ jti: "t-1" });
    const send = async (path: string, init?: RequestInit) => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(new Request(GATEWAY + path, init), e, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };
    expect((await send("/x", bearer(token))).status).toBe(200);
    const revoke = await send("/.auth/revoke", {
      method: "POST",
      headers: { Authorization: "Bearer test-admin-token-0001" },
      body: JSON.stringify({ token }),
    });
    expect(revoke.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_100)); // one staleness window
    expect((await send("/x", bearer(token))).status).toBe(401);
    const health = (await (await send("/.auth/health")).json()) as { revocation: { view: { path: string } } };
    expect(health.revocation.view.path).toBe("fresh");
  });
});

// The RevocationLedger: seqs, de-duplication, the feed, the strict check, pruning driven by the
// alarm, and the KV outbox under failures, restarts and concurrency.
import { env, evictDurableObject, reset, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HEAD_KEY, VERSION_KEY, type Head } from "../src/revocation/kv-layout";
import { IDEMPOTENCY_KEY_TTL_SECONDS, MAX_ACTIVE_REVOCATIONS, MAX_IDEMPOTENCY_KEYS } from "../src/constants";
import { ledgerOf, RevocationLedger } from "../src/revocation/ledger";
import type { Revocation } from "../src/revocation/model";
import { freezeClock } from "./helpers/app";
import { FlakyKv } from "./helpers/kv";

afterEach(async () => {
  vi.useRealTimers();
  await reset(); // every Durable Object and KV entry, so each test starts from an empty ledger
});

const now = () => Math.floor(Date.now() / 1000);
const jti = (value: string, iss: string | null = "https://i.test"): Revocation => ({
  kind: "jti",
  value,
  iss,
  at: now(),
  expiresAt: now() + 600,
});
const sub = (value: string, at = now(), iss: string | null = "https://i.test"): Revocation => ({
  kind: "sub",
  value,
  iss,
  at,
  expiresAt: at + 86400,
});

/** A revoke that the test expects to be recorded (the ledger is far from full). */
async function revoke(stub: DurableObjectStub<RevocationLedger>, r: Revocation) {
  const recorded = await stub.revoke(r);
  if (!recorded) throw new Error("the ledger refused a revocation as full");
  return recorded;
}

/** Points the ledger instance's KV binding at a wrapper (lasts until the instance is evicted). */
async function useKv(stub: DurableObjectStub<RevocationLedger>, kv: KVNamespace) {
  await runInDurableObject(stub, (instance: RevocationLedger) => {
    const current = (instance as unknown as { env: Env }).env;
    Object.defineProperty(instance, "env", { value: { ...current, REVOCATIONS: kv } });
  });
}

/** Fills the ledger to its cap with `<prefix>-N` jti entries expiring at `expiresAt`, in one statement. */
async function fill(stub: DurableObjectStub<RevocationLedger>, prefix: string, expiresAt: number): Promise<void> {
  await runInDurableObject(stub, (_: RevocationLedger, state) => {
    state.storage.sql.exec(
      `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
       INSERT INTO revocations (kind, iss, value, at, expires_at, revoked_at) SELECT 'jti', '', ? || '-' || x, 0, ?, 0 FROM n`,
      MAX_ACTIVE_REVOCATIONS,
      prefix,
      expiresAt,
    );
  });
}
describe("RevocationLedger", () => {
  it("is a SQLite-backed Durable Object with its schema in place", async () => {
    const stub = ledgerOf(env);
    expect(await stub.lastSeq()).toBe(0);
    await runInDurableObject(stub, (instance: RevocationLedger, state) => {
      expect(instance).toBeInstanceOf(RevocationLedger);
      const tables = state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .toArray();
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(["revocations", "outbox", "meta"]));
    });
  });

  it("gives each revocation the next seq and stores it before answering", async () => {
    const stub = ledgerOf(env);
    const a = await revoke(stub, jti("a"));
    const b = await revoke(stub, sub("alice"));
    expect([a.event.seq, b.event.seq]).toEqual([1, 2]);
    expect(a.duplicate).toBe(false);
    expect((await stub.feed(0, 10)).map((e) => e.revocation.value)).toEqual(["a", "alice"]);
  });

  it("keeps one entry when the same thing is revoked twice", async () => {
    const stub = ledgerOf(env);
    const first = await revoke(stub, jti("same"));
    const again = await revoke(stub, jti("same"));
    expect(again.duplicate).toBe(true);
    expect(again.event.seq).toBe(first.event.seq);
    const t = now();
    await revoke(stub, sub("bob", t));
    expect((await revoke(stub, sub("bob", t))).duplicate).toBe(true);
    expect(await stub.feed(0, 10)).toHaveLength(2);
  });

  it("moves a subject's revocation forward when it is revoked again later, as one entry", async () => {
    const stub = ledgerOf(env);
    await revoke(stub, sub("carol", now() - 100));
    const later = await revoke(stub, sub("carol", now()));
    expect(later.duplicate).toBe(false);
    const feed = await stub.feed(0, 10);
    expect(feed).toHaveLength(1);
    expect(feed[0]!.seq).toBe(later.event.seq);
    expect(await stub.check({ iss: "https://i.test", sub: "carol", iat: now() - 50 })).toBe("sub");
  });

  it("pages the feed in seq order", async () => {
    const stub = ledgerOf(env);
    for (let i = 0; i < 7; i++) await revoke(stub, jti(`p${i}`));
    const first = await stub.feed(0, 3);
    const second = await stub.feed(first[2]!.seq, 3);
    const third = await stub.feed(second[2]!.seq, 3);
    expect([...first, ...second, ...third].map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("answers the strict check for each kind and its neighbours", async () => {
    const stub = ledgerOf(env);
    const t = now();
    await revoke(stub, jti("tok-1"));
    await revoke(stub, { kind: "token", value: "f".repeat(64), iss: "https://i.test", at: t, expiresAt: t + 600 });
    await revoke(stub, sub("dave", t));
    await revoke(stub, { kind: "sid", value: "s-1", iss: null, at: t, expiresAt: t + 86400 });
    const iss = "https://i.test";
    expect(await stub.check({ iss, jti: "tok-1" })).toBe("jti");
    expect(await stub.check({ iss: "https://other.test", jti: "tok-1" })).toBeNull();
    expect(await stub.check({ iss, tokenSha256: "f".repeat(64) })).toBe("token");
    expect(await stub.check({ iss, jti: "tok-2", sub: "dave", iat: t })).toBe("sub");
    expect(await stub.check({ iss, jti: "tok-3", sub: "dave", iat: t + 1 })).toBeNull();
    expect(await stub.check({ iss, jti: "tok-4", sub: "dave" })).toBe("sub"); // no iat: fail closed
    expect(await stub.check({ iss: "https://other.test", sub: "dave", iat: t - 10 })).toBeNull();
    expect(await stub.check({ iss: "https://any.test", sid: "s-1", iat: t - 10 })).toBe("sid");
    expect(await stub.check({ iss, sid: "s-2", iat: t - 10 })).toBeNull();
  });

  it("prunes entries once no token they match can be valid, driven by its alarm", async () => {
    const stub = ledgerOf(env);
    await revoke(stub, { kind: "jti", value: "old", iss: null, at: now() - 100, expiresAt: now() - 1 });
    await revoke(stub, jti("fresh"));
    expect(await stub.feed(0, 10)).toHaveLength(2);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.feed(0, 10)).map((e) => e.revocation.value)).toEqual(["fresh"]);
  });
});

describe("its bound", () => {
  it(`refuses new revocations beyond ${MAX_ACTIVE_REVOCATIONS} active entries, so edge views stay within memory`, async () => {
    const stub = ledgerOf(env);
    await fill(stub, "bulk", 4000000000);
    await evictDurableObject(stub); // the instance counts its active entries when it starts
    expect(await stub.revoke(jti("one-too-many"))).toBeNull();
    const duplicate = await stub.revoke({ kind: "jti", value: "bulk-7", iss: null, at: now(), expiresAt: 4000000000 });
    expect(duplicate).toMatchObject({ duplicate: true, event: { seq: 7 } });
  });

  it("counts its entries without scanning the table on every revoke, and frees room by pruning", async () => {
    const stub = ledgerOf(env);
    await fill(stub, "old", 1);
    await evictDurableObject(stub);
    const recorded = await stub.revoke(jti("after-prune")); // full of expired entries: pruned, then accepted
    expect(recorded).toMatchObject({ duplicate: false, added: true });
    expect(await stub.feed(0, 10)).toHaveLength(1);
  });
});

describe("the KV outbox", () => {
  it("publishes each revocation to KV before answering when KV is up", async () => {
    const stub = ledgerOf(env);
    await revoke(stub, jti("published"));
    expect(await env.REVOCATIONS.get(VERSION_KEY)).toBe("1");
    const head = await env.REVOCATIONS.get<Head>(HEAD_KEY, "json");
    expect(head!.tail.map((e) => e[3])).toEqual(["published"]);
    expect(await stub.pending()).toBe(0);
  });

  it("answers while KV fails, keeps the entry in the outbox, and publishes it when KV is back", async () => {
    const stub = ledgerOf(env);
    const kv = new FlakyKv();
    kv.failWrites = true;
    await useKv(stub, kv.binding());
    await revoke(stub, jti("k1"));
    await revoke(stub, jti("k2"));
    expect(await stub.pending()).toBe(2);
    expect(await env.REVOCATIONS.get(VERSION_KEY)).toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(true); // still failing: retried later
    expect(await stub.pending()).toBe(2);
    kv.failWrites = false;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.pending()).toBe(0);
    const head = await env.REVOCATIONS.get<Head>(HEAD_KEY, "json");
    expect(head!.tail.map((e) => e[3])).toEqual(["k1", "k2"]);
  });

  it("loses nothing when the ledger restarts between the answer and the KV write", async () => {
    const stub = ledgerOf(env);
    const kv = new FlakyKv();
    kv.failWrites = true;
    await useKv(stub, kv.binding());
    const recorded = await revoke(stub, sub("erin"));
    await evictDurableObject(stub); // a new instance, with the real binding
    expect(await stub.pending()).toBe(1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.pending()).toBe(0);
    expect(await env.REVOCATIONS.get(VERSION_KEY)).toBe(String(recorded.event.seq));
  });

  it("gives 500 concurrent revokes distinct, gap-free seqs, all in the feed and in KV", async () => {
    const stub = ledgerOf(env);
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => revoke(stub, jti(`c${i}`))));
    const seqs = results.map((r) => r.event.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    const feed = [...(await stub.feed(0, 1000))];
    expect(feed.map((e) => e.seq)).toEqual(seqs);
    while ((await stub.pending()) > 0) await runDurableObjectAlarm(stub);
    expect(await env.REVOCATIONS.get(VERSION_KEY)).toBe("500");
    const head = await env.REVOCATIONS.get<Head>(HEAD_KEY, "json");
    const inKv = head!.segments.length + head!.tail.length;
    expect(inKv).toBeGreaterThan(0);
  });
});

describe("Idempotency-Key", () => {
  const claim = (key: string, fingerprint = "a".repeat(64)) => ({ key, fingerprint });
  const keyRows = (stub: DurableObjectStub<RevocationLedger>) =>
    runInDurableObject(stub, (_: RevocationLedger, state) =>
      state.storage.sql
        .exec<{ key: string; seq: number }>("SELECT key, seq FROM idempotency_keys ORDER BY n")
        .toArray(),
    );

  it("answers a retried sub revoke with its first event, later too: no new seq, no second entry", async () => {
    const clock = freezeClock();
    const stub = ledgerOf(env);
    const first = await stub.revokeOnce(sub("alice", now()), claim("k-1"));
    expect(first).toMatchObject({ outcome: "answered", replayed: false, event: { seq: 1 } });
    clock.advance(30); // a retry after a timeout; without the key this would move the revocation forward
    const retry = await stub.revokeOnce(sub("alice", now()), claim("k-1"));
    expect(retry).toEqual({ ...first, replayed: true });
    const feed = await stub.feed(0, 10);
    expect(feed).toHaveLength(1);
    expect(feed[0]!.revocation.at).toBe(now() - 30);
    expect(await stub.check({ iss: "https://i.test", sub: "alice", iat: now() - 10 })).toBeNull(); // logged in after the first
    // without a key, behaviour is unchanged: a later revoke moves it forward as a new seq
    expect((await revoke(stub, sub("alice", now()))).event.seq).toBe(2);
  });

  it("refuses a key reused for a different request and records nothing for it", async () => {
    const stub = ledgerOf(env);
    expect(await stub.revokeOnce(jti("a"), claim("k-2", "a".repeat(64)))).toMatchObject({ outcome: "answered" });
    expect(await stub.revokeOnce(jti("b"), claim("k-2", "b".repeat(64)))).toEqual({ outcome: "key_reused" });
    expect((await stub.feed(0, 10)).map((e) => e.revocation.value)).toEqual(["a"]);
  });

  it("remembers a key whose request was a duplicate, with the event it was answered", async () => {
    const stub = ledgerOf(env);
    const plain = await revoke(stub, jti("dup"));
    const keyed = await stub.revokeOnce(jti("dup"), claim("k-3"));
    expect(keyed).toMatchObject({ outcome: "answered", replayed: false, event: { seq: plain.event.seq } });
    expect(await keyRows(stub)).toEqual([{ key: "k-3", seq: plain.event.seq }]);
  });

  it("keeps no key when the ledger refused the revoke as full, so a retry can still land", async () => {
    const stub = ledgerOf(env);
    await fill(stub, "bulk", 4000000000);
    await evictDurableObject(stub);
    expect(await stub.revokeOnce(jti("no-room"), claim("k-4"))).toEqual({ outcome: "full" });
    expect(await keyRows(stub)).toEqual([]);
  });

  it(`forgets keys ${IDEMPOTENCY_KEY_TTL_SECONDS} s after their request, pruned by the alarm`, async () => {
    const clock = freezeClock();
    const stub = ledgerOf(env);
    const long = (value: string): Revocation => ({
      kind: "jti",
      value,
      iss: null,
      at: now(),
      expiresAt: now() + 10 * 86400,
    });
    await stub.revokeOnce(long("t-1"), claim("k-5"));
    clock.advance(IDEMPOTENCY_KEY_TTL_SECONDS - 1);
    await stub.revokeOnce(long("t-2"), claim("k-6"));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await keyRows(stub)).map((r) => r.key)).toEqual(["k-5", "k-6"]); // not yet
    clock.advance(1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await keyRows(stub)).map((r) => r.key)).toEqual(["k-6"]);
    // forgotten: the key may now name a new request
    expect(await stub.revokeOnce(long("t-3"), claim("k-5", "c".repeat(64)))).toMatchObject({
      outcome: "answered",
      replayed: false,
      event: { seq: 3 },
    });
    expect((await stub.feed(0, 10)).map((e) => e.revocation.value)).toEqual(["t-1", "t-2", "t-3"]); // the entries stay until their own expiry
  });

  it(`keeps at most ${MAX_IDEMPOTENCY_KEYS} keys, forgetting the oldest first`, async () => {
    const stub = ledgerOf(env);
    await runInDurableObject(stub, (_: RevocationLedger, state) => {
      state.storage.sql.exec(
        `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
         INSERT INTO idempotency_keys (key, fingerprint, seq, at, expires_at, revoked_at, forget_at) SELECT 'bulk-' || x, '', 0, 0, 0, 0, 4000000000 FROM n`,
        MAX_IDEMPOTENCY_KEYS,
      );
    });
    await stub.revokeOnce(jti("one-more"), claim("newest"));
    const rows = await runInDurableObject(stub, (_: RevocationLedger, state) => {
      const sql = state.storage.sql;
      return {
        count: sql.exec<{ c: number }>("SELECT COUNT(*) AS c FROM idempotency_keys").one().c,
        oldest: sql.exec<{ key: string }>("SELECT key FROM idempotency_keys ORDER BY n LIMIT 1").one().key,
      };
    });
    expect(rows).toEqual({ count: MAX_IDEMPOTENCY_KEYS, oldest: "bulk-2" });
    expect(await stub.revokeOnce(jti("x"), claim("bulk-1", "d".repeat(64)))).toMatchObject({
      outcome: "answered",
      replayed: false,
    });
  });
});

describe("the ledger's own refusals", () => {
  it("answers a stream request without Upgrade: websocket with a 426 problem body, like every other refusal", async () => {
    const response = await ledgerOf(env).fetch(new Request("https://ledger.internal/stream"));
    expect(response.status).toBe(426);
    expect(response.headers.get("Content-Type")).toBe("application/problem+json");
    expect(response.headers.get("Upgrade")).toBe("websocket");
    expect(((await response.json()) as { code: string }).code).toBe("upgrade_required");
  });
});

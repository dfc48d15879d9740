// The edge's matching logic on its own (src/revocation/hashed-index.ts: no binding, no clock), and
// against the ledger's SQL for strict routes (src/revocation/store.ts): the same answer for random
// revocations and tokens, wildcard issuers, sub and sid with iat on both sides of at, many issuers,
// entries split between the snapshot's records and the newer ones.
import { env, reset, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { encodeRecords, entryHash, probeOf, RECORD_BYTES, RevocationIndex } from "../src/revocation/hashed-index";
import { ledgerOf, type RevocationLedger } from "../src/revocation/ledger";
import type { Revocation, TokenFacts } from "../src/revocation/model";
import { record, revokedBy } from "../src/revocation/store";
import { counted } from "./helpers/properties";

afterAll(() => reset());

const ISS = "https://i.test";

/** A snapshot of these entries as the ledger writes it: records sorted by hash. */
async function snapshotOf(
  entries: { kind: Revocation["kind"]; iss: string; value: string; at: number }[],
): Promise<ArrayBuffer> {
  const hashed = await Promise.all(
    entries.map(async (e) => ({ h: await entryHash(e.kind, e.iss, e.value), at: e.at })),
  );
  hashed.sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0));
  const bytes = encodeRecords(hashed, hashed.length);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

describe("RevocationIndex", () => {
  it("finds a token by jti or by its hash, in the snapshot or among newer entries, and nothing else", async () => {
    const index = new RevocationIndex([await snapshotOf([{ kind: "jti", iss: ISS, value: "old", at: 100 }])]);
    index.add(await entryHash("token", "", "ab".repeat(32)), 200);
    expect(index.revokedBy(await probeOf({ iss: ISS, jti: "old" }))).toBe("jti");
    expect(index.revokedBy(await probeOf({ iss: "https://other.test", jti: "old" }))).toBeNull();
    expect(index.revokedBy(await probeOf({ iss: "https://other.test", tokenSha256: "ab".repeat(32) }))).toBe("token"); // "" is any issuer
    expect(index.revokedBy(await probeOf({ iss: ISS, jti: "ab".repeat(32) }))).toBeNull(); // a jti is not a token hash
    expect(index.size).toBe(2);
  });

  it("denies a sub or sid token issued at or before the latest at, from either part", async () => {
    const index = new RevocationIndex([await snapshotOf([{ kind: "sub", iss: ISS, value: "alice", at: 100 }])]);
    index.add(await entryHash("sub", ISS, "alice"), 150); // revoked again later: moves forward
    index.add(await entryHash("sid", "", "s1"), 50);
    expect(index.revokedBy(await probeOf({ iss: ISS, sub: "alice", iat: 150 }))).toBe("sub");
    expect(index.revokedBy(await probeOf({ iss: ISS, sub: "alice", iat: 151 }))).toBeNull();
    expect(index.revokedBy(await probeOf({ iss: ISS, sub: "alice" }))).toBe("sub"); // no iat: fail closed
    expect(index.revokedBy(await probeOf({ iss: "https://x.test", sid: "s1", iat: 50 }))).toBe("sid");
    expect(index.revokedBy(await probeOf({ iss: "https://x.test", sid: "s1", iat: 51 }))).toBeNull();
  });

  it("keeps the latest at of records whose hashes are equal (a collision denies more, never less)", () => {
    const bytes = encodeRecords(
      [
        { h: "00000000000000aa", at: 5 },
        { h: "00000000000000aa", at: 9 },
        { h: "00000000000000ab", at: 1 },
      ],
      3,
    );
    expect(bytes.byteLength).toBe(2 * RECORD_BYTES);
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true)).toBe(9);
  });

  it("searches a record at every position of a large sorted chunk, and misses between them", async () => {
    const entries = Array.from({ length: 2_000 }, (_, i) => ({
      kind: "jti" as const,
      iss: ISS,
      value: `j${i}`,
      at: i,
    }));
    const index = new RevocationIndex([await snapshotOf(entries)]);
    for (let i = 0; i < 2_000; i += 37)
      expect(index.revokedBy(await probeOf({ iss: ISS, jti: `j${i}` })), `j${i}`).toBe("jti");
    for (let i = 0; i < 50; i++) expect(index.revokedBy(await probeOf({ iss: ISS, jti: `absent${i}` }))).toBeNull();
  });
});

describe("the index and the ledger's SQL", () => {
  it("give the same decision for random revocations and tokens", async () => {
    const issuers = ["https://a.test", "https://b.test", "https://c.test"];
    const value = fc.constantFrom("v1", "v2", "v3", "alice", "");
    const revocation = fc.record({
      kind: fc.constantFrom("jti", "token", "sub", "sid") as fc.Arbitrary<Revocation["kind"]>,
      iss: fc.option(fc.constantFrom(...issuers), { nil: null }),
      value,
      at: fc.integer({ min: 1000, max: 1010 }),
    });
    const facts: fc.Arbitrary<TokenFacts> = fc
      .record(
        {
          iss: fc.constantFrom(...issuers),
          jti: value,
          tokenSha256: value,
          sub: value,
          sid: value,
          iat: fc.integer({ min: 995, max: 1015 }),
        },
        { requiredKeys: ["iss"] },
      )
      .map((f) => (f.jti !== undefined ? { ...f, tokenSha256: undefined } : f));
    let run = 0;
    await counted("revocation sets through the index and the SQL", async (runs) => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(revocation, { maxLength: 12 }),
          fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
          fc.array(facts, { minLength: 1, maxLength: 6 }),
          async (revocations, inSnapshot, tokens) => {
            runs.tick();
            // Each run in a namespace of its own (a suffix on every value), in the one ledger's tables.
            const tag = `#${++run}`;
            const tagged = revocations.map((r) => ({ ...r, value: r.value + tag, expiresAt: 4_000_000_000 }));
            const later = tagged.filter((_, i) => !inSnapshot[i]);
            const index = new RevocationIndex([
              await snapshotOf(tagged.filter((_, i) => inSnapshot[i]).map((r) => ({ ...r, iss: r.iss ?? "" }))),
            ]);
            for (const r of later) index.add(await entryHash(r.kind, r.iss ?? "", r.value), r.at);
            const sqlAnswers = await runInDurableObject(ledgerOf(env), (_: RevocationLedger, state) => {
              for (const r of tagged) record(state.storage.sql, r, r.at);
              return tokens.map((t) => revokedBy(state.storage.sql, tag2(t, tag), 0) !== null);
            });
            for (const [i, t] of tokens.entries()) {
              expect(
                index.revokedBy(await probeOf(tag2(t, tag))) !== null,
                JSON.stringify({ revocations: tagged, token: t }),
              ).toBe(sqlAnswers[i]);
            }
          },
        ),
        { numRuns: 300 },
      );
    });
  }, 60_000);
});

/** The token's values in the run's namespace. */
function tag2(t: TokenFacts, tag: string): TokenFacts {
  const add = (v: string | undefined) => (v === undefined ? undefined : v + tag);
  return { ...t, jti: add(t.jti), tokenSha256: add(t.tokenSha256), sub: add(t.sub), sid: add(t.sid) };
}

// The sender-constraint core on its own: cnf readings, the replay memory's bound, stateless nonces.
import { env, evictDurableObject, reset, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import type { DpopReplay } from "../src/sender/replay-shard";
import { freezeClock } from "./helpers/app";
import { bindingOf } from "../src/sender/binding";
import { NonceIssuer } from "../src/sender/dpop-nonce";
import { htuOf } from "../src/sender/dpop-proof";
import { RememberedProofs } from "../src/sender/proof-replay";

const JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

describe("bindingOf", () => {
  it("reads jkt and x5t#S256, and refuses what it cannot check", () => {
    expect(bindingOf({})).toBeNull();
    expect(bindingOf({ cnf: { jkt: JKT } })).toEqual({ kind: "dpop", thumbprint: JKT });
    expect(bindingOf({ cnf: { "x5t#S256": JKT } })).toEqual({ kind: "mtls", thumbprint: JKT });
    for (const cnf of [null, [], "x", {}, { jwk: {} }, { jkt: JKT.slice(1) }, { jkt: JKT, "x5t#S256": JKT }])
      expect(() => bindingOf({ cnf }), JSON.stringify(cnf)).toThrow(/cnf|bound/);
  });
});

describe("htuOf", () => {
  it("keeps scheme, host and path; drops a default port, query and fragment; refuses other schemes", () => {
    expect(htuOf("https://API.example:443/a/b?q#f")).toBe("https://api.example/a/b");
    expect(htuOf("http://127.0.0.1:8787/x")).toBe("http://127.0.0.1:8787/x");
    expect(htuOf("ftp://a/b")).toBeNull();
    expect(htuOf("not a url")).toBeNull();
  });
});

describe("RememberedProofs", () => {
  it("refuses a replay within its window and accepts the jti again after it", () => {
    const proofs = new RememberedProofs();
    expect(proofs.claim(JKT, "a", 160, 100)).toBe(true);
    expect(proofs.claim(JKT, "a", 160, 150)).toBe(false);
    expect(proofs.claim("other-key", "a", 160, 150)).toBe(true); // jtis are per key
    expect(proofs.claim(JKT, "a", 220, 161)).toBe(true);
  });

  it("stays within its bound, dropping expired proofs first, then the oldest", () => {
    const proofs = new RememberedProofs(100);
    for (let i = 0; i < 1000; i++) proofs.claim(JKT, `j${i}`, 1000 + i, 500);
    expect(proofs.size).toBe(100);
    expect(proofs.claim(JKT, "j999", 2000, 500)).toBe(false); // the newest are kept
    expect(proofs.claim(JKT, "j0", 2000, 500)).toBe(true); // the oldest went
    for (let i = 0; i < 50; i++) proofs.claim(JKT, `late${i}`, 3000, 2500); // every earlier one has expired
    expect(proofs.size).toBe(50);
  });
});

describe("NonceIssuer", () => {
  const SECRET = "a-dpop-nonce-secret-of-40-characters-000";

  it("issues one nonce per window, accepts it in the next, and nothing else", async () => {
    const issuer = new NonceIssuer(SECRET, 300);
    const nonce = await issuer.current(3000);
    expect(await issuer.current(3299)).toBe(nonce);
    expect(await issuer.check(nonce, 3000)).toBe("current");
    expect(await issuer.check(nonce, 3300)).toBe("previous");
    expect(await issuer.check(nonce, 3600)).toBeNull();
    expect(await issuer.check(nonce, 2999)).toBeNull(); // a nonce of the future is not one yet
    expect(await new NonceIssuer(SECRET, 300).check(nonce, 3000)).toBe("current"); // stateless
    expect(await new NonceIssuer(SECRET.toUpperCase(), 300).check(nonce, 3000)).toBeNull();
    expect(await issuer.check(nonce.replace(/^[^.]+/, "zz"), 3000)).toBeNull();
  });
});

describe("DpopReplay (one Durable Object per client key)", () => {
  it("accepts a jti once, survives eviction, and leaves no storage once its proofs have expired", async () => {
    const clock = freezeClock();
    const stub = env.DPOP_REPLAY.get(env.DPOP_REPLAY.idFromName(JKT));
    const now = () => Math.floor(Date.now() / 1000);
    expect(await stub.claim("a", now() + 60, now())).toBe(true);
    expect(await stub.claim("a", now() + 60, now())).toBe(false);
    await evictDurableObject(stub);
    expect(await stub.claim("a", now() + 60, now())).toBe(false);
    clock.advance(61);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_: DpopReplay, state) => {
      expect(await state.storage.getAlarm()).toBeNull();
      expect(state.storage.sql.databaseSize).toBeLessThan(16 * 1024);
      expect([...state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'seen'")]).toHaveLength(0);
    });
    expect(await stub.claim("a", now() + 60, now())).toBe(true);
    vi.useRealTimers();
    await reset();
  });
});

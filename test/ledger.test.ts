// The RevocationLedger binding is real from the start: a SQLite-backed Durable Object.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { RevocationLedger } from "../src/revocation/ledger";

describe("RevocationLedger", () => {
  it("is a SQLite-backed Durable Object with its schema in place", async () => {
    const stub = env.REVOCATION_LEDGER.get(env.REVOCATION_LEDGER.idFromName("ledger"));
    expect(await stub.lastSeq()).toBe(0);
    await runInDurableObject(stub, (instance: RevocationLedger, state) => {
      expect(instance).toBeInstanceOf(RevocationLedger);
      const tables = state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray();
      expect(tables.map((t) => t.name)).toContain("revocations");
    });
  });
});

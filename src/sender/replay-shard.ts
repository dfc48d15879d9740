// Network-wide DPoP replay detection, for routes with `proofReplay: "network"`: one Durable Object
// per client key (named by the key's thumbprint), which accepts each of that key's proof jtis once.
// Per key rather than per hash of the proof: a client's requests come from where the client is,
// so its object is created near it and each check is a short round trip there; keys spread the
// load over as many objects as there are clients, and only a proof that verified (for a token bound
// to that key) reaches one, so nobody can make objects without an issuer's token.
//
// The jtis live in the object's SQLite storage, so an object evicted between a request and its
// replay still refuses the replay; an alarm deletes what has expired, and everything once the key
// has gone quiet, so a key costs no storage after its last proof window.
import { DurableObject } from "cloudflare:workers";
import { REPLAY_CHECK_TIMEOUT_MS } from "../constants";
import { AuthError } from "../errors";

export class DpopReplay extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;
  /** Whether the table exists: the alarm drops it with the rest of the storage once it is empty. */
  private ready = false;

  /** True the first time `jti` is claimed before `untilSec`; false for a replay. */
  async claim(jti: string, untilSec: number, nowSec: number): Promise<boolean> {
    if (!this.ready) {
      this.sql.exec("CREATE TABLE IF NOT EXISTS seen (jti TEXT PRIMARY KEY, until INTEGER NOT NULL)");
      this.ready = true;
    }
    const row = this.sql.exec<{ until: number }>("SELECT until FROM seen WHERE jti = ?", jti).toArray()[0];
    if (row !== undefined && row.until >= nowSec) return false;
    this.sql.exec("INSERT OR REPLACE INTO seen (jti, until) VALUES (?, ?)", jti, untilSec);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm((untilSec + 1) * 1000);
    return true;
  }

  override async alarm(): Promise<void> {
    this.sql.exec("CREATE TABLE IF NOT EXISTS seen (jti TEXT PRIMARY KEY, until INTEGER NOT NULL)");
    const now = Math.floor(Date.now() / 1000);
    this.sql.exec("DELETE FROM seen WHERE until < ?", now);
    const next = this.sql.exec<{ until: number | null }>("SELECT MIN(until) AS until FROM seen").one().until;
    if (next === null) {
      await this.ctx.storage.deleteAll();
      this.ready = false;
    } else await this.ctx.storage.setAlarm((next + 1) * 1000);
  }
}

/** Claims a proof's jti across the network; 503 when the key's object cannot answer in time. */
export type ClaimProof = (jkt: string, jti: string, untilSec: number, nowSec: number) => Promise<boolean>;

export function networkClaim(namespace: DurableObjectNamespace<DpopReplay>): ClaimProof {
  return async (jkt, jti, untilSec, nowSec) => {
    const stub = namespace.get(namespace.idFromName(jkt));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timeout")), REPLAY_CHECK_TIMEOUT_MS);
    });
    try {
      return await Promise.race([stub.claim(jti, untilSec, nowSec), timeout]);
    } catch {
      throw new AuthError(
        "dpop_replay_unavailable",
        "The network-wide replay check of the DPoP proof did not answer; try again with a new proof.",
      );
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  };
}

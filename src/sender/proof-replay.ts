// The proofs this isolate has accepted, so that a captured request replayed here is refused (RFC
// 9449 section 11.1). A proof is remembered until it is too old to be accepted anyway, keyed by its
// key's thumbprint and its jti (a client's jti cannot collide with another client's).
//
// Deliberate cache, bounded: at most MAX_REMEMBERED_PROOFS entries of under 200 bytes each. Entries
// go in the order they expire (every one lives the same proof window past its arrival), so the
// oldest is first in the Map. Past the bound the oldest is forgotten before it expires: that takes
// more fresh proofs in one window than one isolate serves, and routes with `proofReplay: "network"`
// keep refusing the replay through the replay shard (replay-shard.ts) whatever this one forgets.
import { MAX_REMEMBERED_PROOFS } from "../constants";

export class RememberedProofs {
  private readonly untilSec = new Map<string, number>();

  constructor(private readonly maxEntries = MAX_REMEMBERED_PROOFS) {}

  get size(): number {
    return this.untilSec.size;
  }

  /** True the first time a proof is seen within its window; false for a replay. */
  claim(jkt: string, jti: string, untilSec: number, nowSec: number): boolean {
    const key = `${jkt}.${jti}`;
    const until = this.untilSec.get(key);
    if (until !== undefined && until >= nowSec) return false;
    this.untilSec.delete(key); // re-inserted at the end: it now expires last
    this.untilSec.set(key, untilSec);
    for (const [oldest, oldestUntil] of this.untilSec) {
      if (oldestUntil >= nowSec && this.untilSec.size <= this.maxEntries) break;
      this.untilSec.delete(oldest);
    }
    return true;
  }
}

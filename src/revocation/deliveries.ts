// What an identity provider delivers (a logout token, a Security Event Token pushed or polled) lands
// in the ledger once: each revocation under a key made of the token's issuer and jti, so that a
// retry, a replay or a transmitter's redelivery is recognised by the one place that sees them all.
import { sha256Hex } from "../crypto";
import { AuthError } from "../errors";
import type { VerifiedEventToken } from "../token/event-token";
import { signingInput } from "../token/verify";
import { askLedger } from "./ask";
import type { KeyedRevoke } from "./ledger";
import type { Revocation } from "./model";
import type { EventOutcome } from "./security-events";

/**
 * Records `revocation` under `key` (from the token's jti): "new", "repeat" when this very token
 * recorded it before (a retry; any valid signature of what the issuer signed is this token, see
 * signingInput), "conflict" when another token with the same jti did.
 */
export async function recordDelivery(
  env: Env,
  revocation: Revocation,
  key: string,
  token: string,
): Promise<"new" | "repeat" | "conflict"> {
  const fingerprint = await sha256Hex(signingInput(token));
  const keyed = await askLedger<KeyedRevoke>(env, (ledger) => ledger.revokeOnce(revocation, { key, fingerprint }));
  if (keyed.outcome === "full")
    throw new AuthError("revocations_full", "The ledger holds the most active revocations it accepts.");
  if (keyed.outcome === "key_reused") return "conflict";
  return keyed.replayed ? "repeat" : "new";
}

/**
 * Records a SET's revocations: "fresh" when it recorded something or had nothing to record,
 * "replay" when every one was recorded before. A SET of ignored or control events only is not
 * remembered: its replay changes nothing. A retry after a partial failure (the ledger timed out
 * between two of its events) records the rest instead of being refused; another token with a used
 * jti is refused (event_token_replayed) before it records anything.
 */
export async function recordSecurityEvent(
  env: Env,
  token: VerifiedEventToken,
  raw: string,
  outcome: EventOutcome,
): Promise<"fresh" | "replay"> {
  const base = `secevent:${token.issuer.issuer} ${token.claims.jti}`;
  let fresh = outcome.revocations.length === 0;
  for (const [i, revocation] of outcome.revocations.entries()) {
    const recorded = await recordDelivery(env, revocation, i === 0 ? base : `${base}#${i}`, raw);
    if (recorded === "conflict")
      throw new AuthError("event_token_replayed", "Another token with this jti was delivered before.");
    if (recorded === "new") fresh = true;
  }
  return fresh ? "fresh" : "replay";
}

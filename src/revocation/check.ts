// The revocation check of an approved token, per the route's `revocation` mode: "eventual" asks the
// isolate's in-memory view (refreshed from KV at most once per REVOCATION_MAX_STALENESS_SECONDS),
// "strict" asks the ledger itself (a round trip, so a revocation holds everywhere at once), "skip"
// does not check. While KV cannot be read, a view older than the bound cannot vouch for a token, so
// "eventual" asks the ledger too: a revocation still holds within the bound, and a valid token
// still passes while the ledger answers; when neither answers, 503.
import type { Config, Rule } from "../config";
import { LEDGER_TIMEOUT_MS } from "../constants";
import { AuthError } from "../errors";
import type { VerifiedToken } from "../token/verify";
import { factsOf } from "./facts";
import { ledgerOf } from "./ledger";
import { viewOf } from "./view";

export async function checkRevocation(
  rule: Rule,
  verified: VerifiedToken,
  token: string,
  env: Env,
  config: Config,
  nowMs: number,
  waitUntil?: (p: Promise<unknown>) => void,
): Promise<void> {
  if (rule.revocation === "skip") return;
  const facts = await factsOf(verified, token);
  let kind: string | null;
  const view = rule.revocation === "strict" ? null : viewOf(env.REVOCATIONS);
  if (view && (await view.ensureFresh(config.revocationMaxStalenessSeconds * 1000, nowMs, waitUntil))) {
    kind = view.revokedBy(facts);
  } else {
    kind = await withTimeout(ledgerOf(env).check(facts), LEDGER_TIMEOUT_MS);
  }
  if (kind !== null) throw new AuthError("token_revoked", "The token has been revoked.");
}

/** The ledger's answer, or revocations_unavailable when it cannot be reached in time. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AuthError("revocations_unavailable", "The revocation ledger did not answer in time.")), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch (e) {
    if (e instanceof AuthError) throw e;
    throw new AuthError("revocations_unavailable", "The revocation ledger cannot be reached.");
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

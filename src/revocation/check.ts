// The revocation check of an approved token, per the route's `revocation` mode (and, for an issuer
// that publishes them, its Token Status List: status-list/check.ts): "eventual" asks the
// isolate's in-memory view (refreshed from KV at most once per REVOCATION_MAX_STALENESS_SECONDS),
// "strict" asks the ledger itself (a round trip, so a revocation holds everywhere at once), "skip"
// does not check. While KV cannot be read, a view older than the bound cannot vouch for a token, so
// "eventual" asks the ledger too: a revocation still holds within the bound, and a valid token
// still passes while the ledger answers; when neither answers, 503. Such an answer is kept for the
// token for one staleness window, as long as a view may be old: the bound holds, and one ledger call
// per token per window and isolate, not one per request, keeps a KV outage from piling every request
// of every isolate onto the one Durable Object.
import type { Config, Rule } from "../config";
import { AuthError } from "../errors";
import { checkStatusList } from "../status-list/check";
import { memoOf } from "../token/verified-cache";
import type { VerifiedToken } from "../token/verify";
import { factsOf, probeFor } from "./facts";
import { refreshWindowMs, type FetchHead } from "./fresh-head";
import { askLedger } from "./ask";
import { viewOf, type ViewRefresh } from "./view";
import { writeViewRefresh } from "../metrics";

export async function checkRevocation(
  rule: Rule,
  verified: VerifiedToken,
  token: string,
  env: Env,
  config: Config,
  nowMs: number,
  waitUntil?: (p: Promise<unknown>) => void,
  fetchHead?: FetchHead,
): Promise<void> {
  if (rule.revocation === "skip") return;
  if (verified.issuer.statusLists) await checkStatusList(verified, config, waitUntil);
  const facts = await factsOf(verified, token, config.clockToleranceSeconds);
  let kind: string | null;
  if (rule.revocation === "strict") {
    kind = await askLedger(env, (ledger) => ledger.check(facts));
  } else {
    const stalenessMs = config.revocationMaxStalenessSeconds * 1000;
    const view = viewOf(env.REVOCATIONS);
    const report = env.METRICS ? (r: ViewRefresh) => writeViewRefresh(env.METRICS, r) : undefined;
    const window = refreshWindowMs(stalenessMs, fetchHead !== undefined);
    if (await view.ensureFresh(window, nowMs, waitUntil, fetchHead, report)) {
      kind = view.revokedBy(await probeFor(verified, token, config.clockToleranceSeconds));
    } else {
      // Kept in the token's record (verified-cache.ts) for one window; see the top of this file.
      const memo = memoOf(verified);
      if (memo.ledgerAnswer !== undefined && nowMs < memo.ledgerAnswer.untilMs) {
        kind = memo.ledgerAnswer.kind;
      } else {
        kind = await askLedger(env, (ledger) => ledger.check(facts));
        memo.ledgerAnswer = { kind, untilMs: nowMs + stalenessMs };
      }
    }
  }
  if (kind !== null) throw new AuthError("token_revoked", "The token has been revoked.");
}

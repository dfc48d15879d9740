// A verified token's status in its issuer's Token Status List (draft-ietf-oauth-status-list section
// 8.3), for issuers with ISSUERS[].statusLists: VALID passes, INVALID is token_revoked, SUSPENDED
// token_suspended (it passes again once the list says VALID), any other value or an index the list
// does not have is refused. Called on routes that check revocation, after the token verified.
import type { Config } from "../config";
import { AuthError } from "../errors";
import { memoOf } from "../token/verified-cache";
import type { VerifiedToken } from "../token/verify";
import { INVALID, statusAt, SUSPENDED, VALID } from "./list";
import { statusLists } from "./lists";
import { listRulesOf, referenceOf } from "./reference";

export async function checkStatusList(
  verified: VerifiedToken,
  config: Config,
  waitUntil?: (p: Promise<unknown>) => void,
): Promise<void> {
  const rules = listRulesOf(verified.issuer);
  if (rules === null) return;
  // The reference is read once per verification, in the token's record (verified-cache.ts).
  const memo = memoOf(verified);
  if (memo.statusRef === undefined) memo.statusRef = referenceOf(verified.claims, verified.issuer, rules);
  const ref = memo.statusRef;
  if (ref === null) return;
  const list = await statusLists.listFor(ref.uri, verified.issuer, rules, config.clockToleranceSeconds, waitUntil);
  const status = statusAt(list, ref.idx);
  if (status === VALID) return;
  if (status === INVALID) throw new AuthError("token_revoked", "The token is revoked in its issuer's status list.");
  if (status === SUSPENDED)
    throw new AuthError("token_suspended", "The token is suspended in its issuer's status list.");
  throw new AuthError(
    "token_status_invalid",
    status === null
      ? "The token's status index is outside its status list."
      : `The token's status in its status list is ${status}, which this authorizer does not accept.`,
  );
}

// The decision for one request, shared by the gateway (which forwards) and forward-auth mode
// (which answers): path -> rule -> client -> token -> revocation -> policy. Throws an AuthError on
// denial.
import type { ClientConfig, Config, Rule } from "./config";
import { identifyClient } from "./client-apps";
import { methodOverrideOf, overrideRefused } from "./method";
import { AuthError } from "./errors";
import { checkRequire, RESERVED, selectRuleMemo } from "./policy";
import type { ClientCertificate } from "./sender/certificate";
import { checkSender } from "./sender/check";
import type { ClaimProof } from "./sender/replay-shard";
import { extractCredential } from "./token/extract";
import { memoOf, verifyCached, type KeyHeld } from "./token/verified-cache";
import type { KeyLookup, VerifiedToken } from "./token/verify";

/**
 * What a decision learned while deciding, for the decision log (src/log.ts): filled as it goes, so a
 * denial still says how far it got.
 */
export interface Trace {
  /** The matching rule's `path`, or the /.auth/* route. */
  rule?: string;
  issuer?: string;
  client?: string;
  /** The denial's stable code. */
  reason?: string;
  /** Whether the token's verification came from the verified-token cache (for METRICS). */
  cached?: boolean;
}

export interface Approval {
  rule: Rule;
  /** Null on `auth: "none"` routes: nothing about the caller is asserted. */
  verified: VerifiedToken | null;
  client: ClientConfig | null;
  /** A DPoP nonce for the client's answer, when the one its proof used is about to expire. */
  nextNonce?: string;
}

export interface Target {
  method: string;
  /** The path as the client sent it, percent-encoding included. */
  rawPath: string;
  /** The query as sent, with its "?" ("" without one): it may carry a `_method` override. */
  rawQuery: string;
  headers: Headers;
  /** The URL the client used: its scheme, host and path are what a DPoP proof's htu must name. */
  url: string;
  /** The client's TLS certificate as the edge saw it, for certificate-bound tokens (read only for them). */
  certificate: () => ClientCertificate;
}

export interface Deps {
  keyFor: KeyLookup;
  /** Whether the key of an earlier verification is still the issuer's (for the verified-token cache). */
  keyHeld: KeyHeld;
  nowMs: number;
  /** Throws token_revoked (or revocations_unavailable) per the rule's revocation mode. */
  checkRevocation: (rule: Rule, verified: VerifiedToken, token: string) => Promise<void>;
  /** Claims a DPoP proof's jti across the network (routes with proofReplay "network"). */
  claimProof?: ClaimProof;
  /** Filled as the decision goes, for the decision log. */
  trace?: Trace;
}

export async function authorize(target: Target, config: Config, deps: Deps): Promise<Approval | typeof RESERVED> {
  const method = target.method.toUpperCase();
  const rule = selectRuleMemo(config.rules, method, target.rawPath, config.pathReadings);
  if (rule === RESERVED) return RESERVED;
  const override = methodOverrideOf(method, target.headers, target.rawQuery);
  if (override !== null && selectRuleMemo(config.rules, override, target.rawPath, config.pathReadings) !== rule) {
    throw overrideRefused(method, override);
  }
  const trace = deps.trace ?? {};
  trace.rule = rule.path;
  const client = rule.client === "required" ? await identifyClient(target.headers, config.clients) : null;
  if (client) trace.client = client.id;
  if (rule.auth === "none") return { rule, verified: null, client };
  const credential = extractCredential(target.headers);
  if (credential === null) {
    // A route that takes only bound tokens says so in its challenge: DPoP besides Bearer (RFC 9449 section 7.1).
    if (rule.sender === "bound")
      throw new AuthError("token_missing", "This route requires a DPoP-bound or certificate-bound token.", undefined, {
        offerDpop: true,
      });
    throw new AuthError("token_missing", "This route requires a bearer token.");
  }
  const verified = await verifyCached(credential.token, config, deps.keyFor, deps.keyHeld, deps.nowMs, trace);
  trace.issuer = verified.issuer.issuer;
  // Not awaited for a bearer token on a route that takes one: nothing to wait for on most requests.
  const checked = checkSender(credential, verified, target, rule, config, deps.nowMs, deps.claimProof);
  const sender = checked instanceof Promise ? await checked : checked;
  await deps.checkRevocation(rule, verified, credential.token);
  meetRequire(rule, verified);
  return { rule, verified, client, nextNonce: sender.nextNonce };
}

// The rules each verification has met, in its record (verified-cache.ts). A rule and a token's claims
// never change, so a token answered from the cache meets the same rules again: a lookup instead of
// splitting its scopes and building sets on every request (npm run bench:decompose); bounded by the
// rules of the Config it belongs to.
function meetRequire(rule: Rule, verified: VerifiedToken): void {
  if (!rule.require) return;
  const memo = memoOf(verified);
  if (memo.met?.has(rule)) return;
  checkRequire(rule, verified.claims); // throws insufficient_scope
  (memo.met ??= new Set()).add(rule);
}

// The sender constraint of a verified token, checked on every request that presents it (a token
// answered from the verified-token cache included: the cache holds the token's verification, never
// a proof's): a DPoP-bound token needs the DPoP scheme and a fresh proof of its key, a certificate-
// bound one the connection's certificate, and a route with `sender: "bound"` one or the other.
import type { Config, IssuerConfig } from "../config";
import { AuthError } from "../errors";
import { memoOf } from "../token/verified-cache";
import type { VerifiedToken } from "../token/verify";
import type { Credential } from "../token/extract";
import { bindingOf, type Binding } from "./binding";
import { checkCertificate, type ClientCertificate } from "./certificate";
import { NonceIssuer } from "./dpop-nonce";
import { accessTokenHash, htuOf, verifyProof } from "./dpop-proof";
import { RememberedProofs } from "./proof-replay";
import type { ClaimProof } from "./replay-shard";

/** The request as the sender checks see it. */
export interface SenderTarget {
  method: string;
  /** The URL the client used; its scheme, host and path are what a proof's htu names. */
  url: string;
  headers: Headers;
  certificate: () => ClientCertificate;
}

export interface SenderRule {
  sender: "any" | "bound";
  proofReplay: "isolate" | "network";
}

export interface SenderResult {
  binding: Binding | null;
  /** A fresh DPoP nonce to hand the client on its answer: the one it used is about to expire. */
  nextNonce?: string;
}

// Deliberate caches, one per Config (as the verified tokens): the proofs this isolate has seen
// (bounded, proof-replay.ts) and the nonce issuer (a few nonces, dpop-nonce.ts).
const remembered = new WeakMap<Config, RememberedProofs>();
const nonces = new WeakMap<Config, NonceIssuer>();

export function nonceIssuerOf(config: Config): NonceIssuer | null {
  const { nonceSecret, nonceLifetimeSeconds } = config.dpop;
  if (nonceSecret === null) return null;
  let issuer = nonces.get(config);
  if (!issuer) nonces.set(config, (issuer = new NonceIssuer(nonceSecret, nonceLifetimeSeconds)));
  return issuer;
}

function rememberedOf(config: Config): RememberedProofs {
  let proofs = remembered.get(config);
  if (!proofs) remembered.set(config, (proofs = new RememberedProofs()));
  return proofs;
}

/** A bearer token on a route that takes one is answered at once; the other cases need crypto or a round trip. */
export function checkSender(
  credential: Credential,
  verified: VerifiedToken,
  target: SenderTarget,
  rule: SenderRule,
  config: Config,
  nowMs: number,
  claimNetwork: ClaimProof | undefined,
): SenderResult | Promise<SenderResult> {
  const binding = bindingOf(verified.claims);
  if (credential.scheme === "dpop" && binding?.kind !== "dpop")
    throw new AuthError("token_not_dpop_bound", "The token is not DPoP-bound: send it with the Bearer scheme.");
  if (binding === null) {
    if (rule.sender === "bound")
      throw new AuthError("sender_unbound", "This route accepts only DPoP-bound or certificate-bound tokens.");
    return { binding };
  }
  if (binding.kind === "mtls") {
    return checkCertificate(target.certificate(), binding.thumbprint, config.certificates.requireVerified).then(() => ({
      binding,
    }));
  }
  if (credential.scheme !== "dpop")
    throw new AuthError("token_dpop_bound", "The token is DPoP-bound: send it as Authorization: DPoP with a proof.");
  return checkDpop(credential.token, verified, binding.thumbprint, target, rule, config, nowMs, claimNetwork).then(
    (nextNonce) => ({ binding, nextNonce }),
  );
}

async function checkDpop(
  token: string,
  verified: VerifiedToken,
  jkt: string,
  target: SenderTarget,
  rule: SenderRule,
  config: Config,
  nowMs: number,
  claimNetwork: ClaimProof | undefined,
): Promise<string | undefined> {
  const nowSec = Math.floor(nowMs / 1000);
  const memo = memoOf(verified);
  memo.ath ??= await accessTokenHash(token);
  const rules = proofRules(verified.issuer, config);
  const htu = htuOf(target.url);
  if (htu === null) throw new AuthError("dpop_proof_invalid", "The request's URL cannot be named by a DPoP proof.");
  const request = { method: target.method, htu };
  const proof = await verifyProof(target.headers.get("DPoP"), request, memo.ath, jkt, rules, nowSec, memo.dpopKey);
  memo.dpopKey = proof.key;

  let nextNonce: string | undefined;
  const issuer = nonceIssuerOf(config);
  if (issuer !== null) {
    const fresh = proof.nonce === undefined ? null : await issuer.check(proof.nonce, nowSec);
    if (fresh === null)
      throw new AuthError(
        "dpop_nonce_required",
        proof.nonce === undefined
          ? "This resource requires a DPoP nonce: make the proof again with the one in DPoP-Nonce."
          : "The DPoP proof's nonce has expired or was not issued here: use the one in DPoP-Nonce.",
        undefined,
        { dpopNonce: await issuer.current(nowSec) },
      );
    if (fresh === "previous") nextNonce = await issuer.current(nowSec);
  }

  // A proof is accepted until its iat is a proof window old: remembered that long.
  const untilSec = proof.iat + config.dpop.maxAgeSeconds;
  const replayed = () =>
    new AuthError("dpop_proof_replayed", "This DPoP proof was used before: make a new one for each request.");
  if (!rememberedOf(config).claim(jkt, proof.jti, untilSec, nowSec)) throw replayed();
  if (rule.proofReplay === "network") {
    if (claimNetwork === undefined)
      throw new AuthError("dpop_replay_unavailable", "The network-wide replay check of DPoP proofs is not bound here.");
    if (!(await claimNetwork(jkt, proof.jti, untilSec, nowSec))) throw replayed();
  }
  return nextNonce;
}

const proofRules = (issuer: IssuerConfig, config: Config) => ({
  algorithms: issuer.dpopAlgorithms,
  maxAgeSeconds: config.dpop.maxAgeSeconds,
  toleranceSeconds: config.clockToleranceSeconds,
});

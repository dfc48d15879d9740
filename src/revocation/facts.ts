// From a verified token and a revoke body to what the ledger stores and the check looks up.
import { decodeJwt } from "jose";
import type { Config } from "../config";
import { sha256Hex } from "../crypto";
import { AuthError } from "../errors";
import { memoOf } from "../token/verified-cache";
import { signingInput, type VerifiedToken } from "../token/verify";
import { probeOf, type Probe } from "./hashed-index";
import type { Revocation, RevokeBody, TokenFacts } from "./model";

/**
 * Facts of a token for the check; the hash of its signing input is computed only when it has no jti.
 * Its iat is read on the ledger's clock (see TokenFacts.iat): moved back by the clock tolerance.
 */
export async function factsOf(
  verified: VerifiedToken,
  token: string,
  clockToleranceSeconds: number,
): Promise<TokenFacts> {
  // In the token's record (verified-cache.ts): a token answered from the cache is not hashed again.
  const memo = memoOf(verified);
  memo.facts ??= await computeFacts(verified, token, clockToleranceSeconds);
  return memo.facts;
}

/** The token's probe of the edge's index (hashed-index.ts), computed once per verification. */
export async function probeFor(verified: VerifiedToken, token: string, clockToleranceSeconds: number): Promise<Probe> {
  const facts = await factsOf(verified, token, clockToleranceSeconds);
  const memo = memoOf(verified);
  memo.probe ??= await probeOf(facts);
  return memo.probe;
}

async function computeFacts(
  verified: VerifiedToken,
  token: string,
  clockToleranceSeconds: number,
): Promise<TokenFacts> {
  const c = verified.claims;
  return {
    iss: verified.issuer.issuer,
    jti: c.jti,
    tokenSha256: c.jti === undefined ? await sha256Hex(signingInput(token)) : undefined,
    sub: c.sub,
    sid: typeof c.sid === "string" ? c.sid : undefined,
    email: typeof c.email === "string" ? c.email.toLowerCase() : undefined,
    iat: typeof c.iat === "number" ? c.iat - clockToleranceSeconds : undefined,
  };
}

/**
 * A sub or sid revocation is kept until no token it denies can still be valid: such a token has an
 * iat up to the tolerance after it (TokenFacts.iat), lives at most the lifetime cap, and is accepted
 * up to the tolerance past its exp.
 */
export function untilNoTokenLeft(config: Config, nowSec: number): number {
  return nowSec + config.maxTokenLifetimeSeconds + 2 * config.clockToleranceSeconds;
}

/**
 * When a jti/token entry may go: its token's exp plus the tolerance, but never later than the longest
 * any token accepted now can live (a token verified at the edge has iat <= now + tolerance and
 * exp - iat <= the lifetime cap), and never before now. So an exp of -1e308 or 2^40 from a body stores
 * a sane time instead of one the ledger's alarm cannot be set to.
 */
function untilTokenExpires(exp: number, config: Config, nowSec: number): number {
  const latest = untilNoTokenLeft(config, nowSec) + config.clockToleranceSeconds;
  return Math.min(Math.max(exp + config.clockToleranceSeconds, nowSec), latest);
}

/**
 * Refuses an `iss` that is no configured issuer: an entry for it could never match a token the edge
 * accepts (tokens of other issuers are refused before any check), so acknowledging it would tell an
 * admin that a user is locked out while nothing is.
 */
function refuseUnconfiguredIssuer(iss: string | null, config: Config): void {
  if (iss === null || config.issuers.some((i) => i.issuer === iss)) return;
  const issuers = config.issuers.map((i) => i.issuer);
  throw new AuthError(
    "issuer_not_configured",
    `The revocation names an issuer that is not configured, so it could never match; configured: ${issuers.join(", ")}.`,
    { issuers },
  );
}

export async function revocationOf(body: RevokeBody, config: Config, nowSec: number): Promise<Revocation> {
  const revocation = await fromBody(body, config, nowSec);
  refuseUnconfiguredIssuer(revocation.iss, config);
  return revocation;
}

async function fromBody(body: RevokeBody, config: Config, nowSec: number): Promise<Revocation> {
  if ("jti" in body) {
    return {
      kind: "jti",
      value: body.jti,
      iss: body.iss ?? null,
      at: nowSec,
      expiresAt: untilTokenExpires(body.exp, config, nowSec),
    };
  }
  if ("token" in body) {
    let claims;
    try {
      claims = decodeJwt(body.token);
    } catch {
      throw new AuthError("body_invalid", "The token to revoke is not a JWT.");
    }
    if (typeof claims.exp !== "number" || !Number.isFinite(claims.exp))
      throw new AuthError("body_invalid", "The token to revoke has no exp.");
    const iss = typeof claims.iss === "string" ? claims.iss : null;
    const expiresAt = untilTokenExpires(claims.exp, config, nowSec);
    if (typeof claims.jti === "string") return { kind: "jti", value: claims.jti, iss, at: nowSec, expiresAt };
    // What the issuer signed, not this copy's signature: every valid signature of it names one token.
    return { kind: "token", value: await sha256Hex(signingInput(body.token)), iss, at: nowSec, expiresAt };
  }
  if ("sub" in body)
    return {
      kind: "sub",
      value: body.sub,
      iss: body.iss ?? null,
      at: nowSec,
      expiresAt: untilNoTokenLeft(config, nowSec),
    };
  return {
    kind: "sid",
    value: body.sid,
    iss: body.iss ?? null,
    at: nowSec,
    expiresAt: untilNoTokenLeft(config, nowSec),
  };
}

/** What POST /.auth/logout revokes for the caller: its token, its session, or its subject. */
export function logoutRevocation(
  verified: VerifiedToken,
  facts: TokenFacts,
  scope: "token" | "session" | "all",
  config: Config,
  nowSec: number,
): Revocation {
  const iss = verified.issuer.issuer;
  const expiresAt = untilTokenExpires(verified.claims.exp!, config, nowSec);
  if (scope === "token") {
    return facts.jti !== undefined
      ? { kind: "jti", value: facts.jti, iss, at: nowSec, expiresAt }
      : { kind: "token", value: facts.tokenSha256!, iss, at: nowSec, expiresAt };
  }
  const value = scope === "session" ? facts.sid : facts.sub;
  if (value === undefined) {
    throw new AuthError("body_invalid", scope === "session" ? "The token has no sid to end." : "The token has no sub.");
  }
  return {
    kind: scope === "session" ? "sid" : "sub",
    value,
    iss,
    at: nowSec,
    expiresAt: untilNoTokenLeft(config, nowSec),
  };
}

// From a verified token and a revoke body to what the ledger stores and the check looks up.
import { decodeJwt } from "jose";
import type { Config } from "../config";
import { sha256Hex } from "../crypto";
import { AuthError } from "../errors";
import { canonicalToken, type VerifiedToken } from "../token/verify";
import type { Revocation, RevokeBody, TokenFacts } from "./model";

// Facts per verification, so a token answered from the verified-token cache is not hashed again;
// weak, so an entry goes with its verification.
const known = new WeakMap<VerifiedToken, TokenFacts>();

/** Facts of a token for the check; the token's SHA-256 is computed only when it has no jti. */
export async function factsOf(verified: VerifiedToken, token: string): Promise<TokenFacts> {
  let facts = known.get(verified);
  if (!facts) known.set(verified, (facts = await computeFacts(verified, token)));
  return facts;
}

async function computeFacts(verified: VerifiedToken, token: string): Promise<TokenFacts> {
  const c = verified.claims;
  return {
    iss: verified.issuer.issuer,
    jti: c.jti,
    tokenSha256: c.jti === undefined ? await sha256Hex(token) : undefined,
    sub: c.sub,
    sid: typeof c.sid === "string" ? c.sid : undefined,
    iat: typeof c.iat === "number" ? c.iat : undefined,
  };
}

/** A sub or sid revocation is kept until no token issued before it can still be valid. */
export function untilNoTokenLeft(config: Config, nowSec: number): number {
  return nowSec + config.maxTokenLifetimeSeconds + config.clockToleranceSeconds;
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

export async function revocationOf(body: RevokeBody, config: Config, nowSec: number): Promise<Revocation> {
  if ("jti" in body) {
    return { kind: "jti", value: body.jti, iss: body.iss ?? null, at: nowSec, expiresAt: untilTokenExpires(body.exp, config, nowSec) };
  }
  if ("token" in body) {
    let claims;
    try {
      claims = decodeJwt(body.token);
    } catch {
      throw new AuthError("body_invalid", "The token to revoke is not a JWT.");
    }
    if (typeof claims.exp !== "number" || !Number.isFinite(claims.exp)) throw new AuthError("body_invalid", "The token to revoke has no exp.");
    const iss = typeof claims.iss === "string" ? claims.iss : null;
    const expiresAt = untilTokenExpires(claims.exp, config, nowSec);
    if (typeof claims.jti === "string") return { kind: "jti", value: claims.jti, iss, at: nowSec, expiresAt };
    // The hash of the token as the edge accepts it: a variant with spare signature bits set is
    // refused there, so revoking one must revoke the token it stands for.
    const canonical = canonicalToken(body.token);
    if (canonical === null) throw new AuthError("body_invalid", "The token to revoke is not a JWT.");
    return { kind: "token", value: await sha256Hex(canonical), iss, at: nowSec, expiresAt };
  }
  if ("sub" in body) return { kind: "sub", value: body.sub, iss: body.iss ?? null, at: nowSec, expiresAt: untilNoTokenLeft(config, nowSec) };
  return { kind: "sid", value: body.sid, iss: body.iss ?? null, at: nowSec, expiresAt: untilNoTokenLeft(config, nowSec) };
}

/** What POST /.auth/logout revokes for the caller: its token, its session, or its subject. */
export function logoutRevocation(verified: VerifiedToken, facts: TokenFacts, scope: "token" | "session" | "all", config: Config, nowSec: number): Revocation {
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
  return { kind: scope === "session" ? "sid" : "sub", value, iss, at: nowSec, expiresAt: untilNoTokenLeft(config, nowSec) };
}

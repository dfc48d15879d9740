// A bearer token -> its verified claims, or an AuthError saying why not. jose does the JWS and the
// standard claims; this module picks the issuer, supplies keys only from that issuer's JWKS (never
// from `jku`, `x5u`, `jwk` or `x5c`), and adds the lifetime and type rules of the contract.
import { base64url, decodeJwt, errors, jwtVerify, type JWTPayload, type JWSHeaderParameters } from "jose";
import type { Config, IssuerConfig } from "../config";
import { AuthError } from "../errors";
import { MAX_TOKEN_BYTES } from "../constants";

export interface VerifiedToken {
  claims: JWTPayload;
  issuer: IssuerConfig;
  /** The token's payload segment as sent: the issuer-signed JSON, base64url (X-Auth-Claims). */
  payloadSegment: string;
  /** The issuer's key that verified it (a cached verification holds only while the key does). */
  key: CryptoKey;
}

/**
 * Finds the key for a header; provided by the JWKS cache (or a test's local key set). A lookup that
 * is about to wait on the network calls `beforeNetwork` first, which may throw to prevent it.
 */
export type KeyLookup = (
  issuer: IssuerConfig,
  header: JWSHeaderParameters,
  beforeNetwork?: () => void,
) => Promise<CryptoKey>;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Token types that are never access tokens (RFC 8417, OIDC Back-Channel Logout). */
const NOT_ACCESS_TOKEN_TYPES = new Set([
  "logout+jwt",
  "secevent+jwt",
  "application/logout+jwt",
  "application/secevent+jwt",
]);
const STRING_CLAIMS = ["sub", "jti", "sid", "iss"] as const;

/** The size and shape checks that precede any parsing of a token. */
function checkShape(token: string): void {
  if (token.length > MAX_TOKEN_BYTES)
    throw new AuthError("token_too_large", `The token is larger than ${MAX_TOKEN_BYTES} bytes.`);
  if (!COMPACT_JWS.test(token)) throw new AuthError("token_malformed", "The token is not a compact JWS.");
  if (canonicalToken(token) !== token)
    throw new AuthError("token_malformed", "The token's signature is not canonical base64url.");
}

/**
 * The token with its signature segment re-encoded from its bytes, or null when that segment is not
 * base64url. Base64url leaves spare bits in the last character (4 of 6 for a 64-byte ES256
 * signature), which decoders ignore: a token with them set verifies exactly as the issued one. Such
 * spellings are refused outright; revocation does not rely on it (see signingInput).
 */
export function canonicalToken(token: string): string | null {
  const dot = token.lastIndexOf(".");
  try {
    return token.slice(0, dot + 1) + base64url.encode(base64url.decode(token.slice(dot + 1)));
  } catch {
    return null;
  }
}

/**
 * What the issuer signed: the header and payload segments, as sent (`header.payload`). A token's
 * identity, for a revocation of a token without jti, is this and never the signature: ECDSA
 * signatures are malleable (`s` and `n - s` both verify), RSA-PSS and ECDSA ones differ on every
 * signing, and base64url spare bits give one signature several spellings, so a hash over the whole
 * token would let a copy with another valid signature pass a revocation. The signature covers these
 * characters exactly, so no other spelling of them verifies.
 */
export function signingInput(token: string): string {
  return token.slice(0, token.lastIndexOf("."));
}

/**
 * The configured issuer a token claims to come from, read before any key is fetched (so a token of
 * an unknown issuer costs no network), after the size and shape checks that precede any parsing.
 */
export function claimedIssuer(token: string, config: Config): IssuerConfig {
  checkShape(token);
  let unverified: JWTPayload;
  try {
    unverified = decodeJwt(token);
  } catch {
    throw new AuthError("token_malformed", "The token's payload is not a JSON object.");
  }
  const issuer =
    typeof unverified.iss === "string" ? config.issuers.find((i) => i.issuer === unverified.iss) : undefined;
  if (!issuer) throw new AuthError("issuer_unknown", "The token's issuer is not trusted here.");
  return issuer;
}

export async function verifyToken(
  token: string,
  config: Config,
  keyFor: KeyLookup,
  nowMs: number,
): Promise<VerifiedToken> {
  // With one issuer configured, the payload is not decoded ahead of jose (which decodes it again):
  // on new tokens that decode was 5 % of the isolate's busy time. The claimed issuer is read only
  // before the key lookup goes to the network, and when verification fails, so that a token of
  // another issuer is refused as issuer_unknown without a JWKS fetch, exactly as with several.
  const only = config.issuers.length === 1 ? config.issuers[0]! : null;
  if (only === null) return verifyFor(claimedIssuer(token, config), token, config, keyFor, nowMs);
  checkShape(token);
  const readIssuer = () => void claimedIssuer(token, config);
  try {
    return await verifyFor(only, token, config, keyFor, nowMs, readIssuer);
  } catch (e) {
    readIssuer();
    throw e;
  }
}

async function verifyFor(
  issuer: IssuerConfig,
  token: string,
  config: Config,
  keyFor: KeyLookup,
  nowMs: number,
  beforeNetwork?: () => void,
): Promise<VerifiedToken> {
  let claims: JWTPayload;
  let key: CryptoKey | undefined;
  try {
    const result = await jwtVerify(token, async (header) => (key = await keyFor(issuer, header, beforeNetwork)), {
      issuer: issuer.issuer,
      audience: issuer.audiences,
      algorithms: issuer.algorithms,
      clockTolerance: config.clockToleranceSeconds,
      currentDate: new Date(nowMs),
      // iat too (RFC 9068 requires it of access tokens): the lifetime cap is exp - iat, and a sub, sid
      // or jti revocation is kept only as long as that cap. Measured from now instead, a token without
      // iat and a far exp would be refused until its exp came within the cap, then accepted after the
      // revocations that named it had been dropped.
      requiredClaims: ["exp", "iat"],
    });
    if (
      typeof result.protectedHeader.typ === "string" &&
      NOT_ACCESS_TOKEN_TYPES.has(result.protectedHeader.typ.toLowerCase())
    ) {
      throw new AuthError("token_claims_invalid", "The token is not an access token.");
    }
    // Whatever its typ: a logout token or a Security Event Token carries `events` (OIDC Back-Channel
    // Logout 2.4, RFC 8417), and one addressed to an audience the access tokens share (a misconfigured
    // logoutAudiences) would otherwise pass as a bearer token.
    if (result.payload.events !== undefined)
      throw new AuthError(
        "token_claims_invalid",
        "The token is a logout or security event token, not an access token.",
      );
    claims = result.payload;
  } catch (e) {
    throw toAuthError(e);
  }

  for (const name of STRING_CLAIMS) {
    if (claims[name] !== undefined && typeof claims[name] !== "string") {
      throw new AuthError("token_claims_invalid", `The token's "${name}" claim is not a string.`);
    }
  }
  // RFC 8707 as the MCP authorization specification asks: a token for another resource of the same
  // issuer (which the issuer's audiences may well accept) is not one for this resource.
  const resource = config.protectedResource?.resource;
  if (resource !== undefined && !(Array.isArray(claims.aud) ? claims.aud.includes(resource) : claims.aud === resource))
    throw new AuthError("audience_mismatch", "The token is not meant for this resource (PROTECTED_RESOURCE).");
  const now = Math.floor(nowMs / 1000);
  const tolerance = config.clockToleranceSeconds;
  if (claims.iat! > now + tolerance) {
    throw new AuthError("token_issued_in_future", "The token's iat is in the future.");
  }
  const lifetime = claims.exp! - claims.iat!;
  if (lifetime > config.maxTokenLifetimeSeconds) {
    throw new AuthError(
      "token_lifetime_too_long",
      `The token lives longer than ${config.maxTokenLifetimeSeconds} seconds.`,
    );
  }
  return { claims, issuer, payloadSegment: token.slice(token.indexOf(".") + 1, token.lastIndexOf(".")), key: key! };
}

export function toAuthError(e: unknown): AuthError {
  if (e instanceof AuthError) return e;
  if (e instanceof errors.JWTExpired) return new AuthError("token_expired", "The token has expired.");
  if (e instanceof errors.JWTClaimValidationFailed) {
    switch (e.claim) {
      case "aud":
        return new AuthError("audience_mismatch", "The token is not meant for this audience.");
      case "nbf":
        return new AuthError("token_not_yet_valid", "The token is not valid yet.");
      case "iss":
        return new AuthError("issuer_unknown", "The token's issuer is not trusted here.");
      case "exp":
        return new AuthError("token_claims_invalid", "The token has no valid exp claim.");
      case "iat":
        return new AuthError("token_claims_invalid", "The token has no valid iat claim.");
      default:
        return new AuthError("token_claims_invalid", `The token's "${e.claim}" claim is invalid.`);
    }
  }
  if (e instanceof errors.JOSEAlgNotAllowed)
    return new AuthError("algorithm_not_allowed", "The token's algorithm is not allowed for its issuer.");
  if (e instanceof errors.JWSSignatureVerificationFailed)
    return new AuthError("signature_invalid", "The token's signature does not verify.");
  if (e instanceof errors.JOSENotSupported) {
    return /crit|Extension Header/i.test(e.message)
      ? new AuthError("crit_unsupported", "The token requires an extension this authorizer does not support.")
      : new AuthError("algorithm_not_allowed", "The token's algorithm is not supported.");
  }
  if (e instanceof errors.JWTInvalid) return new AuthError("token_claims_invalid", "The token's claims are invalid.");
  // jose refuses RSA keys under 2048 bits (a TypeError naming modulusLength): the issuer's key, not the token, is at fault.
  if (e instanceof TypeError && /modulusLength|2048/.test(e.message))
    return new AuthError(
      "key_too_weak",
      "The issuer's key is too weak to verify with (RSA keys need 2048 bits or more).",
    );
  return new AuthError("token_malformed", "The token is malformed.");
}

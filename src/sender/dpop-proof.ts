// A DPoP proof (RFC 9449 section 4.3), checked against the request it came with and the token it
// goes with. jose verifies the JWS with the public key the proof carries (EmbeddedJWK refuses one
// with private members or a symmetric one) and computes the key's RFC 7638 thumbprint; this module
// adds the request's rules: method, URL, freshness, the token's hash, and the token's key.
import {
  base64url,
  calculateJwkThumbprint,
  EmbeddedJWK,
  errors,
  jwtVerify,
  type FlattenedJWSInput,
  type JWK,
  type JWSHeaderParameters,
  type JWTPayload,
} from "jose";
import { MAX_DPOP_JTI_CHARS, MAX_DPOP_PROOF_BYTES } from "../constants";
import { AuthError } from "../errors";

export interface ProofRequest {
  /** The method the client sent (a forward-auth proxy names it). */
  method: string;
  /** The URL the client used, as it reached the edge: scheme, host and path. */
  htu: string;
}

export interface ProofRules {
  /** Asymmetric algorithms a proof may use (the issuer's `dpopAlgorithms`). */
  algorithms: string[];
  /** How old a proof's `iat` may be. */
  maxAgeSeconds: number;
  /** How far in the future a proof's `iat` may be (the clock tolerance). */
  toleranceSeconds: number;
}

/** What a valid proof says, for the nonce and replay checks that follow. */
export interface Proof {
  jti: string;
  iat: number;
  nonce: string | undefined;
  /** The key that signed it, for the token's next proofs. */
  key: ProvenKey;
}

/**
 * A client key that has signed a valid proof for a token bound to it: its `jwk` header as sent and
 * the imported key. A client signs every proof with the one key, so the token's record keeps it
 * (sender/check.ts) and the next proof with the same `jwk` skips the import and the thumbprint,
 * about a third of a proof's cost (npm run bench:decompose). Only a key whose thumbprint matched
 * the token's cnf.jkt gets here, so nobody can fill the records with keys of their own.
 */
export interface ProvenKey {
  jwk: string;
  key: CryptoKey;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const encoder = new TextEncoder();

const invalid = (detail: string) => new AuthError("dpop_proof_invalid", detail);

/** The `ath` a proof must carry for this access token: base64url(SHA-256(token)). */
export async function accessTokenHash(token: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(token))));
}

/** Scheme, host (without a default port) and path, as the WHATWG URL parser reads them; null if not a URL. */
export function htuOf(url: string): string | null {
  try {
    const u = new URL(url);
    if (u.protocol !== "https:" && u.protocol !== "http:") return null;
    return u.origin + u.pathname;
  } catch {
    return null;
  }
}

/**
 * The proof of the request's one `DPoP` header, verified for `request`, the token whose hash is
 * `ath`, and the key whose thumbprint is `jkt`. Throws dpop_proof_invalid saying which rule failed.
 */
export async function verifyProof(
  header: string | null,
  request: ProofRequest,
  ath: string,
  jkt: string,
  rules: ProofRules,
  nowSec: number,
  proven?: ProvenKey,
): Promise<Proof> {
  if (header === null) throw invalid("The token is DPoP-bound and the request carries no DPoP proof.");
  if (header.length > MAX_DPOP_PROOF_BYTES)
    throw invalid(`The DPoP proof is larger than ${MAX_DPOP_PROOF_BYTES} bytes.`);
  // Two DPoP headers arrive joined with ", ", which no compact JWS holds.
  if (header.includes(",")) throw invalid("The request carries more than one DPoP header.");
  if (!COMPACT_JWS.test(header)) throw invalid("The DPoP header is not one signed JWT.");

  let payload: JWTPayload;
  let jwk: JWK;
  let jwkText = "";
  let key: CryptoKey | undefined;
  // The same jwk, byte for byte, as a proven key's is that key; jose still checks the header's alg
  // against it (a P-256 key never verifies an ES384 proof), as EmbeddedJWK would have.
  const keyOf = async (protectedHeader: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    jwkText = JSON.stringify(protectedHeader.jwk) ?? "";
    key = proven !== undefined && jwkText === proven.jwk ? proven.key : await EmbeddedJWK(protectedHeader, token);
    return key;
  };
  try {
    const result = await jwtVerify(header, keyOf, {
      typ: "dpop+jwt",
      algorithms: rules.algorithms,
      requiredClaims: ["jti", "htm", "htu", "iat"],
      currentDate: new Date(nowSec * 1000),
      clockTolerance: rules.toleranceSeconds,
    });
    payload = result.payload;
    jwk = result.protectedHeader.jwk!;
  } catch (e) {
    throw proofError(e);
  }

  const { jti, htm, htu, iat, nonce } = payload as JWTPayload & Record<string, unknown>;
  if (typeof jti !== "string" || jti === "" || jti.length > MAX_DPOP_JTI_CHARS)
    throw invalid(`The DPoP proof's jti is not a string of 1 to ${MAX_DPOP_JTI_CHARS} characters.`);
  if (htm !== request.method) throw invalid("The DPoP proof's htm is not the request's method.");
  if (typeof htu !== "string" || htu.includes("?") || htu.includes("#"))
    throw invalid("The DPoP proof's htu must be the request's URL without query or fragment.");
  if (htuOf(htu) !== request.htu) throw invalid("The DPoP proof's htu is not the URL of this request.");
  if (iat! > nowSec + rules.toleranceSeconds) throw invalid("The DPoP proof's iat is in the future.");
  if (iat! < nowSec - rules.maxAgeSeconds)
    throw invalid(`The DPoP proof is older than ${rules.maxAgeSeconds} seconds; make a new one for each request.`);
  if (payload.ath !== ath) throw invalid("The DPoP proof's ath is not the hash of the access token it came with.");
  if (nonce !== undefined && typeof nonce !== "string") throw invalid("The DPoP proof's nonce is not a string.");
  // Last: a thumbprint is a hash over the key, and every cheaper rule could refuse first.
  if (key !== proven?.key && (await calculateJwkThumbprint(jwk, "sha256")) !== jkt)
    throw invalid("The DPoP proof is signed by another key than the one the token is bound to.");
  return { jti, iat: iat!, nonce, key: key === proven?.key ? proven! : { jwk: jwkText, key: key! } };
}

function proofError(e: unknown): AuthError {
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported)
    return invalid("The DPoP proof's algorithm is not allowed (an asymmetric one the issuer accepts).");
  if (e instanceof errors.JWSSignatureVerificationFailed) return invalid("The DPoP proof's signature does not verify.");
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === "typ") return invalid('The DPoP proof\'s typ is not "dpop+jwt".');
    return invalid(`The DPoP proof's "${e.claim}" claim is missing or invalid.`);
  }
  if (e instanceof errors.JWTExpired) return invalid("The DPoP proof has expired.");
  if (e instanceof errors.JWSInvalid)
    return invalid("The DPoP proof's jwk header is missing, not a public key, or not for its algorithm.");
  return invalid("The DPoP proof is malformed.");
}

// What key a token is bound to (its `cnf` claim, RFC 7800): a DPoP key by its RFC 7638 thumbprint
// (RFC 9449 section 6.1) or a client certificate by its SHA-256 thumbprint (RFC 8705 section 3.1).
// A token without `cnf` is a bearer token; one whose `cnf` cannot be read is refused rather than
// taken as unbound, which would let a stolen token through.
import type { JWTPayload } from "jose";
import { AuthError } from "../errors";

export type Binding = { kind: "dpop"; thumbprint: string } | { kind: "mtls"; thumbprint: string };

/** A base64url SHA-256: 43 characters, no padding. */
const SHA256_B64URL = /^[A-Za-z0-9_-]{43}$/;

export function bindingOf(claims: JWTPayload): Binding | null {
  const cnf = claims.cnf;
  if (cnf === undefined) return null;
  if (cnf === null || typeof cnf !== "object" || Array.isArray(cnf))
    throw new AuthError("token_claims_invalid", 'The token\'s "cnf" claim is not an object.');
  const { jkt, "x5t#S256": x5t } = cnf as Record<string, unknown>;
  if (jkt !== undefined && x5t !== undefined)
    throw new AuthError(
      "token_claims_invalid",
      "The token is bound to both a DPoP key and a certificate; this authorizer accepts one binding per token.",
    );
  if (jkt !== undefined) {
    if (typeof jkt !== "string" || !SHA256_B64URL.test(jkt))
      throw new AuthError("token_claims_invalid", 'The token\'s "cnf.jkt" is not a SHA-256 JWK thumbprint.');
    return { kind: "dpop", thumbprint: jkt };
  }
  if (x5t !== undefined) {
    if (typeof x5t !== "string" || !SHA256_B64URL.test(x5t))
      throw new AuthError("token_claims_invalid", 'The token\'s "cnf.x5t#S256" is not a SHA-256 thumbprint.');
    return { kind: "mtls", thumbprint: x5t };
  }
  // A confirmation method this authorizer cannot check (jwk, jku, a future one): refused, since
  // taking the token as a bearer one would drop the binding its issuer asked for.
  throw new AuthError(
    "token_claims_invalid",
    "The token is bound by a confirmation method this authorizer cannot check (only jkt and x5t#S256).",
  );
}

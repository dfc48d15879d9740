// The access token of a request: `Authorization: Bearer <token>` (RFC 6750 section 2.1) or
// `Authorization: DPoP <token>` (RFC 9449 section 7.1), with its size checked before anything
// parses it. Only the Authorization header is read: tokens in query strings end up in logs.
import { MAX_TOKEN_BYTES } from "../constants";
import { AuthError } from "../errors";

export interface Credential {
  scheme: "bearer" | "dpop";
  token: string;
}

const CREDENTIAL = /^(Bearer|DPoP)[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i;

/** The credential, or null when the request carries neither a Bearer nor a DPoP one. */
export function extractCredential(headers: Headers): Credential | null {
  const value = headers.get("Authorization");
  if (value === null) return null;
  // Before any matching: a huge header costs one length check, not a regex over megabytes.
  if (value.length > MAX_TOKEN_BYTES + 64) {
    throw new AuthError("token_too_large", `The token is larger than ${MAX_TOKEN_BYTES} bytes.`);
  }
  if (!/^(?:bearer|dpop)(?:\s|$)/i.test(value)) return null; // another scheme (Basic, ...): no token
  if (value.includes(",")) {
    throw new AuthError("token_malformed", "The request carries more than one Authorization header or credential.");
  }
  const match = CREDENTIAL.exec(value);
  if (!match)
    throw new AuthError(
      "token_malformed",
      'The Authorization header is not of the form "Bearer <token>" or "DPoP <token>".',
    );
  const token = match[2]!;
  if (token.length > MAX_TOKEN_BYTES) {
    throw new AuthError("token_too_large", `The token is larger than ${MAX_TOKEN_BYTES} bytes.`);
  }
  return { scheme: match[1]!.toLowerCase() === "dpop" ? "dpop" : "bearer", token };
}

/** Whether the request presents its token with the DPoP scheme (its challenges are then DPoP ones). */
export function usesDpopScheme(headers: Headers): boolean {
  return /^dpop(?:\s|$)/i.test(headers.get("Authorization") ?? "");
}

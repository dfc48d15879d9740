// The bearer token of a request (RFC 6750 section 2.1), with its size checked before anything
// parses it. Only the Authorization header is read: tokens in query strings end up in logs.
import { MAX_TOKEN_BYTES } from "../constants";
import { AuthError } from "../errors";

const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i;

/** The token, or null when the request carries no bearer credential at all. */
export function extractBearer(headers: Headers): string | null {
  const value = headers.get("Authorization");
  if (value === null) return null;
  // Before any matching: a huge header costs one length check, not a regex over megabytes.
  if (value.length > MAX_TOKEN_BYTES + 64) {
    throw new AuthError("token_too_large", `The token is larger than ${MAX_TOKEN_BYTES} bytes.`);
  }
  if (!/^bearer(?:\s|$)/i.test(value)) return null; // another scheme (Basic, ...): no bearer credential
  if (value.includes(",")) {
    throw new AuthError("token_malformed", "The request carries more than one Authorization header or credential.");
  }
  const match = BEARER.exec(value);
  if (!match) throw new AuthError("token_malformed", 'The Authorization header is not of the form "Bearer <token>".');
  const token = match[1]!;
  if (token.length > MAX_TOKEN_BYTES) {
    throw new AuthError("token_too_large", `The token is larger than ${MAX_TOKEN_BYTES} bytes.`);
  }
  return token;
}

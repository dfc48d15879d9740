// The identity headers an approved request carries to the origin (or, in forward-auth mode, back
// to the proxy). A claim value that cannot be a header value as it is (control characters,
// non-ASCII, oversized) is left out rather than altered: X-Auth-Claims still carries it.
import type { ClientConfig } from "./config";
import { MAX_CLAIM_HEADER_BYTES } from "./constants";
import type { IdentityHeader } from "./identity-headers";
import { bindingOf } from "./sender/binding";
import { memoOf } from "./token/verified-cache";
import type { VerifiedToken } from "./token/verify";

/**
 * An array's elements joined with `separator`, each with "%" and the separator percent-encoded, so
 * that the joined text splits back into exactly the elements: `["buyer", "x,admin"]` is
 * `buyer,x%2Cadmin`, never three roles of which one is "admin".
 */
function joinEscaped(values: readonly (string | number)[], separator: "," | " "): string {
  const escape = separator === "," ? /[%,]/g : /[% ]/g;
  return values
    .map((v) => String(v).replace(escape, (c) => (c === "%" ? "%25" : c === "," ? "%2C" : "%20")))
    .join(separator);
}

function headerValue(value: unknown, separator: "," | " " = ","): string | null {
  let text: string;
  if (typeof value === "string") text = value;
  else if (typeof value === "number" || typeof value === "boolean") text = String(value);
  else if (Array.isArray(value) && value.every((v) => typeof v === "string" || typeof v === "number"))
    text = joinEscaped(value, separator);
  else if (value !== null && typeof value === "object") text = JSON.stringify(value);
  else return null;
  if (text.length > MAX_CLAIM_HEADER_BYTES || !/^[\x20-\x7e]*$/.test(text)) return null;
  return text;
}

/** `scope` as it is (space-separated already), else `scp`, whose array elements are joined with spaces. */
function scopesHeader(claims: VerifiedToken["claims"]): string | null {
  if (typeof claims.scope === "string") return headerValue(claims.scope);
  if (Array.isArray(claims.scp))
    return claims.scp.every((s) => typeof s === "string") ? headerValue(claims.scp, " ") : null;
  return headerValue(claims.scp);
}

/** The identity headers of an approval; the list is shared between requests, never to be modified. */
export function identityHeaders(
  verified: VerifiedToken | null,
  client: ClientConfig | null,
  claimHeaders: Record<string, string>,
): readonly [string, string][] {
  let out: readonly [string, string][] = [];
  if (verified) {
    // Kept in the token's record (verified-cache.ts) for the claim mapping it was made with: a token
    // answered from the cache gets the same headers again without deriving them.
    const memo = memoOf(verified);
    if (memo.headers?.claimHeaders !== claimHeaders)
      memo.headers = { claimHeaders, list: tokenHeaders(verified, claimHeaders) };
    out = memo.headers.list;
  }
  if (client) {
    const id = headerValue(client.id);
    if (id !== null) out = [...out, ["X-Auth-Client", id]];
  }
  return out;
}

/** The identity headers of a verified token: a pure function of its claims and the claim mapping. */
export function tokenHeaders(verified: VerifiedToken, claimHeaders: Record<string, string>): [string, string][] {
  const out: [string, string][] = [];
  const add = (name: IdentityHeader | string, value: unknown) => {
    const text = headerValue(value);
    if (text !== null) out.push([name, text]);
  };
  const c = verified.claims;
  add("X-Auth-Subject", c.sub);
  add("X-Auth-Issuer", c.iss);
  add("X-Auth-Token-Id", c.jti);
  add("X-Auth-Session", c.sid);
  add("X-Auth-Scopes", scopesHeader(c));
  // A string is one role (rolesOf), so its commas are escaped as an element's would be.
  add("X-Auth-Roles", typeof c.roles === "string" ? [c.roles] : c.roles);
  add("X-Auth-Expires", c.exp);
  // Only approvals get here, and a bound token is approved only with its proof or certificate.
  const binding = bindingOf(c);
  if (binding) {
    add("X-Auth-Binding", binding.kind);
    add("X-Auth-Key-Thumbprint", binding.thumbprint);
  }
  // Base64url, so always a valid header value; bounded by the token's own 8 KiB limit, not the
  // per-claim one, so that X-Auth-Claims really does carry what the other headers leave out.
  out.push(["X-Auth-Claims", verified.payloadSegment]);
  for (const [claim, header] of Object.entries(claimHeaders)) add(header, c[claim]);
  return out;
}

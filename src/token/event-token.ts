// Logout tokens (OpenID Connect Back-Channel Logout 1.0, section 2.6) and Security Event Tokens
// (RFC 8417): tokens an identity provider sends to say something happened, never credentials. They
// are verified like access tokens (the issuer's JWKS and algorithms, jose), but addressed to one of
// the issuer's `logoutAudiences`, recent, identified by a `jti`, and carrying an `events` claim: so
// an access token is never accepted as one (no `events`, another audience), and verifyToken refuses
// these as access tokens by their `typ`.
import { errors, jwtVerify, type JWTPayload } from "jose";
import type { Config, IssuerConfig } from "../config";
import { EVENT_TOKEN_MAX_AGE_SECONDS } from "../constants";
import { AuthError } from "../errors";
import { claimedIssuer, toAuthError, type KeyLookup } from "./verify";

export const BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";

export type EventTokenKind = "logout" | "secevent";

export interface VerifiedEventToken {
  issuer: IssuerConfig;
  claims: JWTPayload & { jti: string; events: Record<string, unknown> };
}

/** Explicit `typ` of each kind (RFC 8417, BCL 1.0); "JWT" or none is what older providers send. */
const ACCEPTED_TYP: Record<EventTokenKind, Set<string>> = {
  logout: new Set(["logout+jwt", "jwt"]),
  secevent: new Set(["secevent+jwt", "jwt"]),
};

const invalid = (detail: string) => new AuthError("event_token_invalid", detail);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export async function verifyEventToken(
  token: string,
  kind: EventTokenKind,
  config: Config,
  keyFor: KeyLookup,
  nowMs: number,
  /**
   * How old it may be; null for a SET the receiver polled (RFC 8936): the transmitter held it until
   * it was fetched, over a channel only the transmitter answers, and its jti keeps it from applying twice.
   */
  maxAgeSeconds: number | null = EVENT_TOKEN_MAX_AGE_SECONDS,
): Promise<VerifiedEventToken> {
  const issuer = claimedIssuer(token, config);
  const audiences = issuer.logoutAudiences ?? [];
  if (audiences.length === 0)
    throw new AuthError(
      "issuer_unknown",
      "This issuer is not configured to send logout or security event tokens (no logoutAudiences).",
    );

  let claims: JWTPayload;
  try {
    const result = await jwtVerify(token, (header) => keyFor(issuer, header), {
      issuer: issuer.issuer,
      audience: audiences,
      algorithms: issuer.algorithms,
      clockTolerance: config.clockToleranceSeconds,
      currentDate: new Date(nowMs),
      ...(maxAgeSeconds === null ? {} : { maxTokenAge: maxAgeSeconds }),
      requiredClaims: ["iat", "jti", "events"],
    });
    const typ = result.protectedHeader.typ?.toLowerCase().replace(/^application\//, "");
    if (typ !== undefined && !ACCEPTED_TYP[kind].has(typ))
      throw invalid(`The token's typ is not that of a ${kind === "logout" ? "logout token" : "security event token"}.`);
    claims = result.payload;
  } catch (e) {
    if (e instanceof errors.JWTExpired && e.claim === "iat")
      throw invalid(`The token was issued more than ${maxAgeSeconds} seconds ago.`);
    if (e instanceof errors.JWTClaimValidationFailed && ["jti", "events", "iat"].includes(e.claim))
      throw invalid(`The token's "${e.claim}" claim is missing or invalid.`);
    throw toAuthError(e);
  }

  if (typeof claims.jti !== "string" || claims.jti.length === 0 || claims.jti.length > 1024)
    throw invalid('The token\'s "jti" is not a string.');
  if (!isObject(claims.events)) throw invalid('The token\'s "events" claim is not a JSON object.');
  for (const name of ["sub", "sid"] as const) {
    if (claims[name] !== undefined && (typeof claims[name] !== "string" || claims[name] === ""))
      throw invalid(`The token's "${name}" claim is not a string.`);
  }
  if (kind === "logout") {
    if (!isObject(claims.events[BACKCHANNEL_LOGOUT_EVENT]))
      throw invalid("The token does not carry the back-channel logout event.");
    if (claims.nonce !== undefined) throw invalid("A logout token must not carry a nonce.");
    if (claims.sub === undefined && claims.sid === undefined) throw invalid("A logout token must carry sub or sid.");
  }
  return { issuer, claims: claims as VerifiedEventToken["claims"] };
}

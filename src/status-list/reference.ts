// A token's reference to its status (draft-ietf-oauth-status-list section 6.1): the `status` claim's
// `status_list` member, `{ idx, uri }`, read for an issuer that publishes status lists. Which hosts
// the list may come from is the issuer's (ISSUERS[].statusLists.hosts, by default its own origin's
// host): a token cannot send the authorizer to fetch from anywhere it likes.
import type { JWTPayload } from "jose";
import type { IssuerConfig } from "../config";
import {
  STATUS_LIST_DEFAULT_MAX_TTL_SECONDS,
  STATUS_LIST_DEFAULT_MIN_TTL_SECONDS,
  MAX_STATUS_LIST_URI_CHARS,
} from "../constants";
import { AuthError } from "../errors";

export interface StatusReference {
  idx: number;
  uri: string;
}

/** An issuer's status list settings with their defaults in. */
export interface ListRules {
  hosts: string[];
  minTtlSeconds: number;
  maxTtlSeconds: number;
}

const invalid = (detail: string) => new AuthError("token_status_invalid", detail);

export function listRulesOf(issuer: IssuerConfig): ListRules | null {
  const set = issuer.statusLists;
  if (set === undefined || set === false) return null;
  const given = set === true ? {} : set;
  return {
    // Without hosts the issuer is a URL (config.ts refuses otherwise).
    hosts: given.hosts ?? [new URL(issuer.issuer).host],
    minTtlSeconds: given.minTtlSeconds ?? STATUS_LIST_DEFAULT_MIN_TTL_SECONDS,
    maxTtlSeconds: given.maxTtlSeconds ?? STATUS_LIST_DEFAULT_MAX_TTL_SECONDS,
  };
}

/** The token's status reference, null when it has none; refused when it has one that cannot be used. */
export function referenceOf(claims: JWTPayload, issuer: IssuerConfig, rules: ListRules): StatusReference | null {
  const status = claims.status;
  if (status === undefined) return null;
  const ref = (status as { status_list?: unknown } | null)?.status_list;
  // A status claim without a status list names another mechanism: nothing for this check.
  if (typeof status === "object" && status !== null && ref === undefined) return null;
  const { idx, uri } = (ref ?? {}) as { idx?: unknown; uri?: unknown };
  if (typeof idx !== "number" || !Number.isSafeInteger(idx) || idx < 0)
    throw invalid("The token's status_list.idx is not a non-negative integer.");
  if (typeof uri !== "string" || uri.length > MAX_STATUS_LIST_URI_CHARS)
    throw invalid("The token's status_list.uri is not a URI of reasonable length.");
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw invalid("The token's status_list.uri is not a URL.");
  }
  if (!allowedListUrl(url, issuer, rules))
    throw invalid("The token's status list is not an https URL on a host its issuer may publish status lists on.");
  return { idx, uri };
}

/** Whether a status list may be fetched from `url` (the token's, or a redirect's): https (http for an issuer on http), an allowed host. */
export function allowedListUrl(url: URL, issuer: IssuerConfig, rules: ListRules): boolean {
  const schemeOk = url.protocol === "https:" || (url.protocol === "http:" && issuer.issuer.startsWith("http:"));
  return schemeOk && url.username === "" && url.password === "" && url.hash === "" && rules.hosts.includes(url.host);
}

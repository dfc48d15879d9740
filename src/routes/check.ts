// Forward-auth mode (`ANY /.auth/check/*`): the same decision as the gateway, answered instead of
// forwarded, for Envoy ext_authz (HTTP service), nginx `auth_request` and Traefik ForwardAuth.
// 200 with the identity headers, or the denial. The request being judged is described by
// X-Forwarded-Uri / X-Original-URI and X-Forwarded-Method / X-Original-Method when the proxy sends
// them, and otherwise by this request's own method and the path after /.auth/check.
//
// Each proxy sets one pair and passes the client's other headers through (nginx's auth_request
// copies them all), so a client can add the pair its proxy does not set. Preferring one pair would
// let a client's `X-Forwarded-Uri: /public` be judged in place of the path nginx forwards; instead,
// every description present must agree, and two that differ get a 400, never a guess.
import { authorize } from "../authorize";
import { AuthError } from "../errors";
import { identityHeaders } from "../identity";
import { RESERVED } from "../policy";
import { isOverrideHeader } from "../method";
import { isReroutingHeader } from "../proxy";
import { rawPathOf, rawQueryOf } from "../path";
import { depsOf, type AppContext } from "./context";

const PREFIX = "/.auth/check";

/** The one value among those present (null when none is), or a 400 when two differ. */
function agreed(values: (string | null)[], what: string): string | null {
  let found: string | null = null;
  for (const v of values) {
    if (v === null) continue;
    if (found !== null && v !== found)
      throw new AuthError(
        "path_ambiguous",
        `The proxy's descriptions of the ${what} disagree; a client may have sent one of them.`,
      );
    found = v;
  }
  return found;
}

/** A forwarded URI's path and query ("?" included, or ""). */
function forwardedTarget(uri: string): { path: string; query: string } {
  // Two headers of one name arrive joined with ", ", which no URI holds (it has no spaces): judging
  // the joined string would judge neither.
  if (uri.includes(", ")) throw new AuthError("path_ambiguous", "The request carries more than one forwarded URI.");
  if (!uri.startsWith("/") && !/^https?:\/\/[^/?#]+(?:[/?#]|$)/i.test(uri)) {
    throw new AuthError("path_invalid", "The forwarded URI is neither a path nor an http(s) URL.");
  }
  const path = uri.startsWith("/") ? uri : rawPathOf(uri);
  return { path: path.split(/[?#]/, 1)[0] || "/", query: rawQueryOf(uri) };
}

export function checkedTarget(request: Request): { method: string; rawPath: string; rawQuery: string } {
  const headers = request.headers;
  const own = rawPathOf(request.url).slice(PREFIX.length);
  // Envoy's mode: the path after the prefix is a description too. The check's own method is not
  // compared: nginx sends its auth subrequest as a GET whatever the request's method, so it names
  // that one in a header; Envoy keeps the method and sends no such header (see the README).
  const ownPath = own === "" || own === "/" ? null : own;
  const uris = [headers.get("X-Forwarded-Uri"), headers.get("X-Original-URI")];
  const targets = uris.map((u) => (u === null ? null : forwardedTarget(u)));
  const rawPath = agreed([...targets.map((t) => t?.path ?? null), ownPath], "request's path") ?? (own || "/");
  // Every description's query, since the origin may read an override from any of them.
  const rawQuery = [...targets.map((t) => t?.query ?? ""), rawQueryOf(request.url)]
    .map((q) => q.replace(/^\?/, ""))
    .filter((q) => q !== "")
    .join("&");
  const method =
    agreed([headers.get("X-Forwarded-Method"), headers.get("X-Original-Method")], "request's method") ?? request.method;
  // The proxy passes the client's headers on to the origin, so those the gateway would remove are
  // refused here instead: a re-routing header, an override spelled with "_".
  for (const name of headers.keys()) {
    const as = name.replaceAll("_", "-");
    if (isReroutingHeader(as))
      throw new AuthError(
        "path_ambiguous",
        "The request carries a header that re-routes it at some origins (X-Original-URL, X-Rewrite-URL).",
      );
    if (name !== as && isOverrideHeader(as)) {
      throw new AuthError(
        "method_override",
        'A method override header spelled with "_" is refused: a CGI-style origin would read it.',
      );
    }
  }
  return { method, rawPath, rawQuery };
}

/**
 * The URL the client used, for a DPoP proof's htu: the proxy names the scheme and host in
 * X-Forwarded-Proto and X-Forwarded-Host (nginx and Envoy must be told to; Traefik does), else they
 * are the check request's own; the path is the one judged. Two values of one header are refused as
 * two forwarded URIs are.
 */
export function describedUrl(request: Request, rawPath: string): string {
  const own = new URL(request.url);
  const one = (name: string) => {
    const value = request.headers.get(name);
    if (value !== null && value.includes(","))
      throw new AuthError("path_ambiguous", `The request carries more than one ${name}.`);
    return value?.trim() || null;
  };
  const proto = one("X-Forwarded-Proto") ?? own.protocol.slice(0, -1);
  const host = one("X-Forwarded-Host") ?? own.host;
  return `${proto}://${host}${rawPath}`;
}

export async function check(c: AppContext): Promise<Response> {
  const config = c.get("config");
  const { method, rawPath, rawQuery } = checkedTarget(c.req.raw); // throws for a bogus or disputed description
  if (!/^[A-Za-z]{1,16}$/.test(method))
    throw new AuthError("path_invalid", "The forwarded method is not an HTTP method.");
  const target = {
    method,
    rawPath,
    rawQuery,
    headers: c.req.raw.headers,
    url: describedUrl(c.req.raw, rawPath),
    // The proxy ends the client's TLS connection: the certificate this request came with is its own.
    certificate: () => "unseen" as const,
  };
  const approval = await authorize(target, config, depsOf(c));
  if (approval === RESERVED) throw new AuthError("not_found", "The authorizer's own routes cannot be checked.");
  const headers = new Headers({ "Cache-Control": "no-store" });
  if (approval.nextNonce !== undefined) headers.set("DPoP-Nonce", approval.nextNonce);
  for (const [name, value] of identityHeaders(approval.verified, approval.client, config.claimHeaders))
    headers.set(name, value);
  return new Response(null, { status: 200, headers });
}

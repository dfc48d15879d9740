// Forward-auth mode (`ANY /.auth/check/*`): the same decision as the gateway, answered instead of
// forwarded, for Envoy ext_authz (HTTP service), nginx `auth_request` and Traefik ForwardAuth.
// 200 with the identity headers, or the denial. The request being judged is described by
// X-Forwarded-Uri / X-Original-URI and X-Forwarded-Method / X-Original-Method when the proxy sends
// them, and otherwise by this request's own method and the path after /.auth/check.
import { authorize } from "../authorize";
import { AuthError } from "../errors";
import { identityHeaders } from "../identity";
import { RESERVED } from "../policy";
import { rawPathOf } from "../path";
import { denial, depsOf, type AppContext } from "./context";

const PREFIX = "/.auth/check";

export function checkedTarget(request: Request): { method: string; rawPath: string } {
  const headers = request.headers;
  const uri = headers.get("X-Forwarded-Uri") ?? headers.get("X-Original-URI");
  const method = headers.get("X-Forwarded-Method") ?? headers.get("X-Original-Method") ?? request.method;
  if (uri !== null) {
    if (!uri.startsWith("/") && !/^https?:\/\/[^/?#]+(?:[/?#]|$)/i.test(uri)) {
      throw new AuthError("path_invalid", "The forwarded URI is neither a path nor an http(s) URL.");
    }
    const path = uri.startsWith("/") ? uri : rawPathOf(uri);
    return { method, rawPath: path.split(/[?#]/, 1)[0] || "/" };
  }
  const own = rawPathOf(request.url);
  return { method, rawPath: own.slice(PREFIX.length) || "/" };
}

export async function check(c: AppContext): Promise<Response> {
  const config = c.get("config");
  try {
    const { method, rawPath } = checkedTarget(c.req.raw); // throws path_invalid for a bogus forwarded URI
    if (!/^[A-Za-z]{1,16}$/.test(method)) throw new AuthError("path_invalid", "The forwarded method is not an HTTP method.");
    const approval = await authorize({ method, rawPath, headers: c.req.raw.headers }, config, depsOf(c));
    if (approval === RESERVED) throw new AuthError("not_found", "The authorizer's own routes cannot be checked.");
    const headers = new Headers({ "Cache-Control": "no-store" });
    for (const [name, value] of identityHeaders(approval.verified, approval.client, config.claimHeaders)) headers.set(name, value);
    return new Response(null, { status: 200, headers });
  } catch (e) {
    return denial(c, e);
  }
}

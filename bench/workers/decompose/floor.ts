// The contract's floor: what every authorizer that meets contract.md must do to forward an approved
// request, and nothing else. The client's headers copied, its X-Auth-* and hop-by-hop headers
// removed (which takes a scan of every header name), the identity headers set, the request sent on
// with a Headers object of its own. No token is read and nothing is verified: the identity headers
// are the same every time, those of the bench's token (IDENTITY_HEADERS). Its extra CPU over the
// pass-through is the part of any conforming authorizer's extra that no authorization code can
// remove (bench/README.md, "The decomposition"). The steps are separate handlers so that each
// one's share can be read off the table; `timer` sends through the project's own forward() (with its
// origin timeout) instead of a bare fetch.
import { ORIGIN_TIMEOUT_MS } from "../../../src/constants";
import { forward } from "../../../src/proxy";

interface Env {
  ORIGIN_URL: string;
  IDENTITY_HEADERS: [string, string][];
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "proxy-authorization",
  "proxy-authenticate",
]);

/** The handler for the floor up to `step`: the header copy, then the scan, then the identity headers, then the origin timer. */
export function floorUpTo(step: "copy" | "strip" | "identity" | "timer") {
  const strip = step !== "copy";
  const identity = step === "identity" || step === "timer";
  return async (request: Request, env: Env): Promise<Response> => {
    const headers = new Headers(request.headers);
    if (strip) {
      for (const name of request.headers.keys()) {
        if (name.startsWith("x-auth-") || HOP_BY_HOP.has(name)) headers.delete(name);
      }
    }
    if (identity) for (const [name, value] of env.IDENTITY_HEADERS) headers.set(name, value);
    const url = new URL(request.url);
    const target = new URL(url.pathname + url.search, env.ORIGIN_URL).href;
    if (step === "timer") return forward(request, target, headers, ORIGIN_TIMEOUT_MS);
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    return fetch(target, { method: request.method, headers, body: hasBody ? request.body : null, redirect: "manual" });
  };
}

export default { fetch: floorUpTo("identity") };

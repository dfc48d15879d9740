// Forwarding an approved request: the client's headers minus what it must not control (identity
// headers, its API key, other gateways' identity headers, headers that re-route the request at the
// origin, hop-by-hop headers), plus the identity headers; method, path, query and body unchanged and
// streamed; the origin's response back unchanged, a WebSocket handshake's 101 included.
import type { Config } from "./config";
import { AuthError } from "./errors";
import { IDENTITY_HEADER_PREFIX } from "./identity-headers";
import { isOverrideHeader } from "./method";

/** RFC 9110 section 7.6.1 hop-by-hop headers. Upgrade is not one here, so that WebSockets pass. */
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

/**
 * Headers that make IIS (URL Rewrite), Symfony and Zend route a request to another path than the one
 * judged: never forwarded, whatever the configuration.
 */
const REROUTING = new Set(["x-original-url", "x-rewrite-url"]);

export function isReroutingHeader(nameWithDashes: string): boolean {
  return REROUTING.has(nameWithDashes);
}

/** Whether a client's header (its name read with "_" as "-") is removed before forwarding. */
function removed(name: string, as: string, config: Config, listed: Set<string> | null, incoming: Headers): boolean {
  if (as.startsWith(IDENTITY_HEADER_PREFIX) || config.strippedHeaders.has(as) || REROUTING.has(as)) return true;
  for (const prefix of config.strippedPrefixes) if (as.startsWith(prefix)) return true;
  // Upgrade stays for a WebSocket although "Connection: Upgrade" names it: the runtime's fetch makes
  // the handshake. Any other protocol (h2c, the start of request smuggling) is removed.
  if (name === "upgrade") return incoming.get("upgrade")?.toLowerCase() !== "websocket";
  if (HOP_BY_HOP.has(name) || listed?.has(name)) return true;
  // The DPoP proof goes with the token: both kept, or both removed (RFC 9449 leaves it to the server).
  if ((name === "authorization" || name === "dpop") && !config.forwardAuthorization) return true;
  // An override spelled with "_" is one a CGI-style origin reads but the policy did not judge.
  return name !== as && isOverrideHeader(as);
}

export function forwardHeaders(incoming: Headers, config: Config, identity: readonly [string, string][]): Headers {
  const connection = incoming.get("Connection");
  const listed =
    connection === null
      ? null
      : new Set(
          connection
            .toLowerCase()
            .split(",")
            .map((s) => s.trim()),
        );
  // A native copy, then deletes (rare: only headers a client should not have sent): measured in
  // workerd, cheaper than appending the kept ones one by one (and far cheaper than a list of pairs
  // for the Headers constructor).
  const out = new Headers(incoming);
  for (const name of incoming.keys()) {
    // Read with "_" as "-", as CGI-style origins do: X_Auth_Subject or X_User_Email would pass there
    // for the identity or claim header the client may not send.
    const as = name.includes("_") ? name.replaceAll("_", "-") : name;
    if (removed(name, as, config, listed, incoming)) out.delete(name);
  }
  for (const [name, value] of identity) out.set(name, value);
  return out;
}

/** Where the request goes: ORIGIN_URL plus the path and query exactly as the client sent them. */
export function targetUrl(requestUrl: string, rawPath: string, originUrl: string | null): string {
  if (originUrl === null) return requestUrl;
  // The fragment goes first: a "?" inside it is not a query.
  const hash = requestUrl.indexOf("#");
  const url = hash < 0 ? requestUrl : requestUrl.slice(0, hash);
  const q = url.indexOf("?");
  return originUrl + rawPath + (q < 0 ? "" : url.slice(q));
}

/**
 * Sends the request on, over the network or to the origin Worker of the `ORIGIN` service binding
 * (`origin`: no public hop, and the origin Worker needs no public route); the timeout covers the
 * origin's headers, not the body that then streams.
 */
export async function forward(
  request: Request,
  url: string,
  headers: Headers,
  timeoutMs: number,
  origin?: Fetcher,
): Promise<Response> {
  // A race with a timer that is never cleared: workerd drops a request's pending timers when the
  // request ends (a timer set in a finished request never fires), so clearing it only costs. Under
  // load the timer was a quarter of the gateway's CPU over a pass-through, and clearTimeout (through
  // the runtime's Node-style Timeout wrapper) half of that (bench/profile.mjs). While a long body
  // still streams the timer fires into a race already settled, which ignores it. No AbortSignal on
  // the fetch: it would cut that body too. On timeout the abandoned fetch is cancelled by the
  // runtime when the 504 ends the request.
  const timedOut = new Promise<never>((_, reject) => {
    setTimeout(
      () => reject(new AuthError("origin_timeout", `The origin did not answer within ${timeoutMs / 1000} s.`)),
      timeoutMs,
    );
  });
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  try {
    return await Promise.race([
      (origin ?? globalThis).fetch(url, {
        method: request.method,
        headers,
        body: hasBody ? request.body : null,
        redirect: "manual",
      }),
      timedOut,
    ]);
  } catch (e) {
    if (e instanceof AuthError) throw e;
    throw new AuthError("origin_unreachable", "The origin could not be reached.");
  }
}

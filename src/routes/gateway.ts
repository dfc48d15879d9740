// Every request that is not for the authorizer itself: decide, then forward or refuse.
import { authorize } from "../authorize";
import { ORIGIN_TIMEOUT_MS } from "../constants";
import { loadConfig } from "../config";
import { AuthError } from "../errors";
import { identityHeaders } from "../identity";
import { RESERVED } from "../policy";
import { rawPathOf } from "../path";
import { forward, forwardHeaders, targetUrl } from "../proxy";
import { denial, depsOf, type AppContext } from "./context";

export async function gateway(c: AppContext): Promise<Response> {
  // Loaded here rather than by the withConfig middleware, so that the gateway is alone on its route.
  const config = loadConfig(c.env);
  if (config instanceof AuthError) return denial(c, config);
  c.set("config", config);
  const request = c.req.raw;
  const rawPath = rawPathOf(request.url);
  try {
    const approval = await authorize({ method: request.method, rawPath, headers: request.headers }, config, depsOf(c));
    if (approval === RESERVED) throw new AuthError("not_found", "No such authorizer route.");
    const identity = identityHeaders(approval.verified, approval.client, config.claimHeaders);
    const headers = forwardHeaders(request.headers, config, identity);
    return await forward(request, targetUrl(request.url, rawPath, config.originUrl), headers, ORIGIN_TIMEOUT_MS);
  } catch (e) {
    return denial(c, e);
  }
}

// Every request that is not for the authorizer itself: decide, then forward or refuse, and log the
// decision. Plain (request, env, ctx) rather than a Hono handler: this is every API request, and
// Hono's dispatch (router match, Context) was a tenth of a cached-token request's CPU.
import { authorize, type Trace } from "../authorize";
import type { Config } from "../config";
import { loadConfig } from "../config";
import { ORIGIN_TIMEOUT_MS } from "../constants";
import { AuthError } from "../errors";
import { identityHeaders } from "../identity";
import { RESERVED } from "../policy";
import { forward, forwardHeaders, targetUrl } from "../proxy";
import { withDpopNonce } from "../sender/dpop-nonce";
import { depsFor, errorResponseFor, recordDecision, targetOf } from "./context";

export async function gateway(
  request: Request,
  env: Env,
  ctx: ExecutionContext | undefined,
  url = request.url,
): Promise<Response> {
  const started = performance.now();
  const trace: Trace = {};
  let config: Config | undefined;
  let response: Response;
  try {
    const loaded = loadConfig(env);
    if (loaded instanceof AuthError) throw loaded;
    config = loaded;
    // The public URL: the one the client made its DPoP proof for, whatever ORIGIN_URL says.
    const target = targetOf(request, url);
    const approval = await authorize(target, config, depsFor(env, ctx, config, trace));
    if (approval === RESERVED) throw new AuthError("not_found", "No such authorizer route.");
    const identity = identityHeaders(approval.verified, approval.client, config.claimHeaders);
    const headers = forwardHeaders(request.headers, config, identity);
    const origin = (env as { ORIGIN?: Fetcher }).ORIGIN;
    const to = targetUrl(url, target.rawPath, config.originUrl);
    response = await forward(request, to, headers, ORIGIN_TIMEOUT_MS, origin);
    if (approval.nextNonce !== undefined) response = withDpopNonce(response, approval.nextNonce);
  } catch (e) {
    response = errorResponseFor(e, request, trace, config);
  }
  recordDecision(request, env, config, trace, response.status, started);
  return response;
}

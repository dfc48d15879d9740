// What every route handler shares: the Hono environment type, the validated Config on the
// context, and the wiring from the Worker's runtime (clock, waitUntil) to the pure core.
import type { Context, MiddlewareHandler } from "hono";
import type { Deps, Target, Trace } from "../authorize";
import { DEFAULT_DPOP_ALGORITHMS, loadConfig, type Config } from "../config";
import { AuthError } from "../errors";
import { rawPathOf, rawQueryOf } from "../path";
import { problemResponse, realmOf, unexpectedErrorResponse } from "../problem";
import { checkRevocation } from "../revocation/check";
import { headFetcher } from "../revocation/fresh-head";
import { certificateOf } from "../sender/certificate";
import { networkClaim } from "../sender/replay-shard";
import { usesDpopScheme } from "../token/extract";
import { keysOf } from "../token/jwks";
import { logDecision, logged } from "../log";
import { writeDecision } from "../metrics";

// Read variables with c.get(): c.var copies them all into a new object on every access.
export type AppEnv = { Bindings: Env; Variables: { config: Config; trace: Trace } };
export type AppContext = Context<AppEnv>;

/** Loads the isolate's Config; with an invalid one every request gets 500 naming the bad vars. */
export const withConfig: MiddlewareHandler<AppEnv> = async (c, next) => {
  const config = loadConfig(c.env);
  if (config instanceof AuthError) throw config; // answered and logged by onError, as every refusal
  c.set("config", config);
  await next();
};

export type WaitUntil = ((p: Promise<unknown>) => void) | undefined;

/** What a decision needs of the request's execution context (Hono's and the runtime's types differ). */
export interface RequestCtx {
  waitUntil(promise: Promise<unknown>): void;
  exports?: unknown;
}

/** The request's execution context, from any Hono app's Context (the middleware's too: src/hono.ts). */
export function executionCtxOf(c: Context): RequestCtx | undefined {
  try {
    return c.executionCtx as RequestCtx;
  } catch {
    return undefined; // no execution context (e.g. app.request() in a test)
  }
}

/** The runtime's side of a decision, outside Hono too (the gateway runs without it). */
export function depsFor(env: Env, ctx: RequestCtx | undefined, config: Config, trace: Trace): Deps {
  const waitUntil: WaitUntil = ctx ? (p) => ctx.waitUntil(p) : undefined;
  const fetchHead = headFetcher(ctx);
  const nowMs = Date.now();
  return {
    keyFor: (issuer, header, beforeNetwork) => keysOf(issuer).keyFor(header, waitUntil, beforeNetwork),
    keyHeld: (verified) => keysOf(verified.issuer).holds(verified.key, waitUntil),
    nowMs,
    checkRevocation: (rule, verified, token) =>
      checkRevocation(rule, verified, token, env, config, nowMs, waitUntil, fetchHead),
    claimProof: env.DPOP_REPLAY ? networkClaim(env.DPOP_REPLAY) : undefined,
    trace,
  };
}

/**
 * The request as the decision sees it when this Worker is in front of the origin (the gateway, the
 * Hono middleware); `url` is the public URL, the one a DPoP proof's htu names.
 */
export function targetOf(request: Request, url = request.url): Target {
  return {
    method: request.method,
    rawPath: rawPathOf(url),
    rawQuery: rawQueryOf(url),
    headers: request.headers,
    url,
    certificate: () => certificateOf(request),
  };
}

export const depsOf = (c: AppContext): Deps => depsFor(c.env, executionCtxOf(c), c.get("config"), c.get("trace"));

/**
 * The one exit of every refusal: a thrown AuthError becomes its problem (reason recorded for the
 * decision log), anything else a 500 that names nothing internal. The /.auth routes throw; Hono's
 * onError calls this. The identity provider's routes answer in their own formats (routes/events.ts).
 */
export function errorResponseFor(error: unknown, request: Request, trace: Trace, config?: Config): Response {
  if (error instanceof AuthError) {
    trace.reason = error.code;
    const dpop = {
      algs: config?.dpopAlgs ?? DEFAULT_DPOP_ALGORITHMS.join(" "),
      requested: usesDpopScheme(request.headers),
    };
    return problemResponse(error, realmOf(request), dpop, config?.protectedResource?.metadataUrl);
  }
  trace.reason = "internal_error";
  console.error(
    JSON.stringify({ event: "unexpected_error", error: error instanceof Error ? error.name : typeof error }),
  );
  return unexpectedErrorResponse();
}

export const errorResponse = (error: unknown, c: AppContext): Response =>
  errorResponseFor(error, c.req.raw, c.get("trace"), c.get("config"));

/**
 * A decision answered with `status`: its log line (under LOG_DECISIONS, unless `always`) and its
 * METRICS data point. The one place the gateway, /.auth and the Hono middleware record one.
 */
export function recordDecision(
  request: Request,
  env: Env,
  config: Config | undefined,
  trace: Trace,
  status: number,
  started: number,
  always = false,
): void {
  if (always || logged(config?.logDecisions, status)) logDecision(request, trace, status, started);
  writeDecision(env.METRICS, trace, status, performance.now() - started, config?.metricsSampleRate ?? 1);
}

/** The decision log as middleware, for the /.auth routes. */
export const decisionLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  const trace: Trace = {};
  c.set("trace", trace);
  await next();
  // Forward-auth answers decisions like the gateway; every other /.auth route is always logged.
  recordDecision(
    c.req.raw,
    c.env,
    c.get("config"),
    trace,
    c.res.status,
    started,
    !c.req.path.startsWith("/.auth/check"),
  );
};

// The authorizer as Hono middleware (`edge-jwt-authorizer/hono`), for a Worker that is its own
// origin: the gateway's decision (src/authorize.ts, with the configuration, revocation view and
// ledger of the Worker's own env) in front of its handlers instead of in front of a fetch, denials
// answered and logged by the gateway's own functions, so the two cannot drift apart. An approval
// puts the identity on the context (`c.get("auth")`); handlers read it there, never from X-Auth-*
// request headers, which here are whatever the client sent.
//
// /.auth/* is refused with the gateway's 404, not passed on: no rule decides there (those are the
// authorizer Worker's own routes), so a handler behind the guard would run with nothing checked.
import type { MiddlewareHandler } from "hono";
import type { JWTPayload } from "jose";
import { authorize, type Approval, type Trace } from "./authorize";
import { loadConfig, type Config } from "./config";
import { AuthError } from "./errors";
import { identityHeaders } from "./identity";
import { RESERVED } from "./policy";
import { depsFor, errorResponseFor, executionCtxOf, recordDecision, targetOf } from "./routes/context";
import { bindingOf, type Binding } from "./sender/binding";
import { withDpopNonce } from "./sender/dpop-nonce";

/** Exported by the user's Worker for the fresh path of revocations (README, "Hono middleware"). */
export { RevocationHead } from "./revocation/fresh-head";
export type { Binding } from "./sender/binding";

/** Who the request is from, as the gateway would have told the origin. */
export interface Auth {
  /** The verified token's claims; null on a route whose POLICY rule is `auth: "none"`. */
  claims: JWTPayload | null;
  /** The configured issuer (its `issuer` URL) that verified the token; null without one. */
  issuer: string | null;
  /** What the token is bound to (a DPoP key or a client certificate, by thumbprint); null for a bearer token. */
  binding: Binding | null;
  /** The id of the client app (CLIENTS) its API key named, on rules with `client: "required"`; else null. */
  client: string | null;
  /** The identity headers the gateway would send the origin, by name: `X-Auth-Subject`, `X-Auth-Scopes`, ... */
  headers: Readonly<Record<string, string>>;
}

/** The Hono environment of the routes behind the middleware: `new Hono<AuthEnv>()`. */
export type AuthEnv = { Variables: { auth: Auth } };

function authOf(approval: Approval, config: Config): Auth {
  const { verified, client } = approval;
  return {
    claims: verified?.claims ?? null,
    issuer: verified?.issuer.issuer ?? null,
    binding: verified ? bindingOf(verified.claims) : null, // read already: an unreadable cnf was refused
    client: client?.id ?? null,
    headers: Object.fromEntries(identityHeaders(verified, client, config.claimHeaders)),
  };
}

/**
 * Decides each request as the gateway does (ISSUERS, POLICY and the other vars from the Worker's
 * env); refuses with the gateway's answer, or sets `auth` and runs the next handler. The paths it
 * guards are where it is mounted (`app.use("/api/*", authorizer())`); POLICY's rules apply within them.
 */
export function authorizer(): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const started = performance.now();
    const trace: Trace = {};
    const request = c.req.raw;
    let config: Config | undefined;
    let nonce: string | undefined;
    try {
      const loaded = loadConfig(c.env as object);
      if (loaded instanceof AuthError) throw loaded;
      config = loaded;
      const deps = depsFor(c.env as Env, executionCtxOf(c), config, trace);
      const approval = await authorize(targetOf(request), config, deps);
      if (approval === RESERVED) throw new AuthError("not_found", "No such authorizer route.");
      c.set("auth", authOf(approval, config));
      nonce = approval.nextNonce;
    } catch (e) {
      const refusal = errorResponseFor(e, request, trace, config);
      recordDecision(request, c.env as Env, config, trace, refusal.status, started);
      return refusal;
    }
    await next(); // Hono answers a handler's error itself: c.res is the answer either way
    if (nonce !== undefined) {
      const answer = withDpopNonce(c.res, nonce);
      if (answer !== c.res) c.res = answer; // a 101 is left as it is, not copied again by Hono's setter
    }
    recordDecision(request, c.env as Env, config, trace, c.res.status, started);
  };
}

// GET /.auth/health: liveness and a summary of the configuration, never a secret. With an invalid
// configuration it answers the same 500 problem as every other request, naming the bad vars.
import { loadConfig } from "../config";
import { AuthError } from "../errors";
import { problemResponse, realmOf } from "../problem";
import { viewOf } from "../revocation/view";
import { keysOf } from "../token/jwks";
import type { AppContext } from "./context";

export function health(c: AppContext): Response {
  const config = loadConfig(c.env);
  if (config instanceof AuthError) return problemResponse(config, realmOf(c.req.raw));
  const body = {
    status: "ok",
    issuers: config.issuers.map((i) => ({
      issuer: i.issuer,
      jwksUri: i.jwksUri ?? "discovery",
      audiences: i.audiences,
      algorithms: i.algorithms,
      jwks: keysOf(i).status(),
    })),
    policy: { routes: config.rules.length },
    clients: config.clients.map((cl) => cl.id),
    originUrl: config.originUrl,
    forwardAuthorization: config.forwardAuthorization,
    clockToleranceSeconds: config.clockToleranceSeconds,
    maxTokenLifetimeSeconds: config.maxTokenLifetimeSeconds,
    // This isolate's view: how far behind the ledger the edge answers from.
    revocation: { maxStalenessSeconds: config.revocationMaxStalenessSeconds, view: viewOf(c.env.REVOCATIONS).status(Date.now()) },
    adminTokens: config.adminTokens.length,
  };
  return Response.json(body, { headers: { "Cache-Control": "no-store" } });
}

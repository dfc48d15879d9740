// GET /.auth/health: liveness and a summary of the configuration, never a secret. With an invalid
// configuration it answers the same 500 problem as every other request, naming the bad vars.
import { z } from "zod";
import { isAdmin } from "../admin";
import { loadConfig } from "../config";
import { AuthError } from "../errors";
import { viewOf } from "../revocation/view";
import { receiverStatuses } from "../ssf/control";
import { ReceiverStatusSchema } from "../ssf/status";
import { statusLists } from "../status-list/lists";
import { keysOf } from "../token/jwks";
import type { AppContext } from "./context";
import { EventCountsSchema, eventCountsOf } from "./events";

const count = z.number().int().min(0);
const seconds = z.number().int().nullable();

/** The body of a healthy answer; the assignment below keeps the handler and this schema in step. */
export const HealthSchema = z
  .object({
    status: z.literal("ok"),
    issuers: z.array(
      z.object({
        issuer: z.string(),
        jwksUri: z.string().describe('The configured JWKS URI, or "discovery".'),
        audiences: z.array(z.string()),
        algorithms: z.array(z.string()),
        dpopAlgorithms: z.array(z.string()).describe("What its clients may sign DPoP proofs with."),
        jwks: z.object({
          keys: count,
          ageSeconds: seconds,
          fresh: z.boolean(),
          fetches: count,
          lastError: z.string().nullable(),
        }),
      }),
    ),
    statusLists: z
      .array(
        z.object({
          uri: z.string(),
          issuer: z.string(),
          bits: z.number().int().nullable(),
          entries: count.nullable(),
          bytes: count.nullable().describe("Inflated size held in this isolate."),
          ageSeconds: seconds,
          fresh: z.boolean(),
          fetches: count,
          lastError: z.string().nullable(),
        }),
      )
      .describe("The Token Status Lists this isolate holds or tried to load (ISSUERS[].statusLists)."),
    transmitters: z
      .array(ReceiverStatusSchema.extend({ issuer: z.string(), delivery: z.enum(["push", "poll"]) }))
      .describe("Shared Signals transmitters (TRANSMITTERS): each receiver's polls, stream status and verification."),
    policy: z.object({ routes: count }),
    senderConstraints: z
      .object({
        dpop: z.object({
          maxAgeSeconds: count.describe("How old a proof's iat may be."),
          nonce: z.boolean().describe("Whether proofs must carry a nonce this authorizer issued (DPoP-Nonce)."),
          nonceLifetimeSeconds: count,
          networkReplayRoutes: count.describe(
            'Routes whose proofs are accepted once network-wide (proofReplay "network").',
          ),
          boundRoutes: count.describe('Routes that accept only sender-constrained tokens (sender "bound").'),
        }),
        certificates: z.object({ requireVerified: z.boolean() }),
      })
      .describe("DPoP (RFC 9449) and certificate-bound (RFC 8705) tokens; never the nonce secret."),
    clients: z.array(z.string()).describe("Client ids only; never a key."),
    originUrl: z
      .string()
      .nullable()
      .optional()
      .describe("Only with an admin token: where the origin is is not for anyone to read."),
    forwardAuthorization: z.boolean(),
    clockToleranceSeconds: count,
    maxTokenLifetimeSeconds: count,
    revocation: z.object({
      maxStalenessSeconds: count,
      view: z
        .object({
          seq: count,
          entries: count,
          ageSeconds: seconds,
          kvReads: count,
          lastError: z.string().nullable(),
          path: z
            .enum(["fresh", "kv"])
            .nullable()
            .describe(
              "fresh: up to date through the ledger's fresh head (the bound: staleness + about 1 s); kv: through KV alone (plus KV's propagation).",
            ),
          freshFailures: count.describe(
            "Failed reads of the fresh head in a row; the isolate asks again after a jittered backoff.",
          ),
        })
        .describe(
          "This isolate's view: the last seq it holds, how long since it was brought up to date, and through which path.",
        ),
    }),
    events: EventCountsSchema.describe("This isolate's back-channel logouts and security events, since it started."),
    adminTokens: count.describe("How many admin tokens are configured; never the tokens."),
  })
  .meta({ id: "Health" });

export async function health(c: AppContext): Promise<Response> {
  const config = loadConfig(c.env);
  if (config instanceof AuthError) throw config; // onError answers it, and logs why
  const body: z.output<typeof HealthSchema> = {
    status: "ok",
    issuers: config.issuers.map((i) => ({
      issuer: i.issuer,
      jwksUri: i.jwksUri ?? "discovery",
      audiences: i.audiences,
      algorithms: i.algorithms,
      dpopAlgorithms: i.dpopAlgorithms,
      jwks: keysOf(i).status(),
    })),
    statusLists: statusLists.status(),
    transmitters: await receiverStatuses(c.env, config),
    policy: { routes: config.rules.length },
    senderConstraints: {
      dpop: {
        maxAgeSeconds: config.dpop.maxAgeSeconds,
        nonce: config.dpop.nonceSecret !== null,
        nonceLifetimeSeconds: config.dpop.nonceLifetimeSeconds,
        networkReplayRoutes: config.rules.filter((r) => r.proofReplay === "network").length,
        boundRoutes: config.rules.filter((r) => r.sender === "bound").length,
      },
      certificates: config.certificates,
    },
    clients: config.clients.map((cl) => cl.id),
    originUrl: isAdmin(c.req.raw.headers, config) ? config.originUrl : undefined,
    forwardAuthorization: config.forwardAuthorization,
    clockToleranceSeconds: config.clockToleranceSeconds,
    maxTokenLifetimeSeconds: config.maxTokenLifetimeSeconds,
    // This isolate's view: how far behind the ledger the edge answers from.
    revocation: {
      maxStalenessSeconds: config.revocationMaxStalenessSeconds,
      view: viewOf(c.env.REVOCATIONS).status(Date.now()),
    },
    events: { ...eventCountsOf(config) },
    adminTokens: config.adminTokens.length,
  };
  return Response.json(body, { headers: { "Cache-Control": "no-store" } });
}

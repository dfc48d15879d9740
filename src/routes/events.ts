// The routes an identity provider calls: POST /.auth/backchannel-logout (OpenID Connect Back-Channel
// Logout 1.0) and POST /.auth/events (Security Event Tokens pushed per RFC 8935). The token in the
// body is the credential. Each accepted token lands in the ledger like any revoke, with its `jti`
// as the idempotency key, so a replay is refused by the one place that sees every delivery.
import { z } from "zod";
import { readLimitedText } from "../body";
import { nowSec } from "../clock";
import type { Config } from "../config";
import { MAX_ADMIN_BODY_BYTES } from "../constants";
import { AuthError } from "../errors";
import { eventErrorResponse } from "../problem";
import { recordDelivery, recordSecurityEvent } from "../revocation/deliveries";
import { logoutTokenRevocation, securityEventRevocations } from "../revocation/security-events";
import { verifyEventToken, type EventTokenKind } from "../token/event-token";
import { noteControlEvents } from "../ssf/control";
import { depsOf, type AppContext } from "./context";

export const EventCountsSchema = z.object({
  logoutTokens: z.number().int().min(0),
  securityEvents: z.number().int().min(0),
  ignoredEvents: z
    .number()
    .int()
    .min(0)
    .describe("Security events of types the authorizer does not act on, acknowledged."),
  refused: z.number().int().min(0),
});
type EventCounts = z.output<typeof EventCountsSchema>;

// Per isolate and Config, for /.auth/health; a handful of integers per configuration.
const counts = new WeakMap<Config, EventCounts>();

export function eventCountsOf(config: Config): EventCounts {
  let c = counts.get(config);
  if (!c) counts.set(config, (c = { logoutTokens: 0, securityEvents: 0, ignoredEvents: 0, refused: 0 }));
  return c;
}

const mediaTypeOf = (c: AppContext) => c.req.header("Content-Type")?.split(";")[0]!.trim().toLowerCase();

const replayed = () => new AuthError("event_token_replayed", "This token's jti was delivered before.");

async function verified(c: AppContext, token: string, kind: EventTokenKind) {
  return verifyEventToken(token, kind, c.get("config"), depsOf(c).keyFor, Date.now());
}

export async function backchannelLogout(c: AppContext): Promise<Response> {
  const config = c.get("config");
  try {
    if (mediaTypeOf(c) !== "application/x-www-form-urlencoded")
      throw new AuthError("body_invalid", "The body must be a form (application/x-www-form-urlencoded).");
    const form = new URLSearchParams(await readLimitedText(c.req.raw, MAX_ADMIN_BODY_BYTES));
    const tokens = form.getAll("logout_token");
    if (tokens.length !== 1) throw new AuthError("body_invalid", "The form must carry exactly one logout_token.");
    const token = await verified(c, tokens[0]!, "logout");
    if (
      (await recordDelivery(
        c.env,
        logoutTokenRevocation(token, config, nowSec()),
        `logout:${token.issuer.issuer} ${token.claims.jti}`,
        tokens[0]!,
      )) !== "new"
    )
      throw replayed();
    eventCountsOf(config).logoutTokens++;
    return c.body(null, 200, { "Cache-Control": "no-store" });
  } catch (e) {
    return refused(c, e, "backchannel");
  }
}

export async function securityEvent(c: AppContext): Promise<Response> {
  const config = c.get("config");
  try {
    if (mediaTypeOf(c) !== "application/secevent+jwt")
      throw new AuthError("body_invalid", "The body must be a SET (application/secevent+jwt).");
    const raw = (await readLimitedText(c.req.raw, MAX_ADMIN_BODY_BYTES)).trim();
    const token = await verified(c, raw, "secevent");
    const outcome = securityEventRevocations(token, config, nowSec());
    if ((await recordSecurityEvent(c.env, token, raw, outcome)) === "replay") throw replayed();
    if (outcome.control.length > 0) await noteControlEvents(c.env, config, token.issuer.issuer, outcome.control);
    const counted = eventCountsOf(config);
    counted.securityEvents++;
    counted.ignoredEvents += outcome.ignored.length;
    return c.body(null, 202, { "Cache-Control": "no-store" });
  } catch (e) {
    return refused(c, e, "secevent");
  }
}

function refused(c: AppContext, error: unknown, style: "backchannel" | "secevent"): Response {
  if (!(error instanceof AuthError)) throw error;
  eventCountsOf(c.get("config")).refused++;
  c.get("trace").reason = error.code;
  return eventErrorResponse(error, style);
}

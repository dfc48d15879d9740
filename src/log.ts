// One structured JSON line per request, for `wrangler tail` and Workers Logs: which rule decided,
// the outcome, the reason code, the issuer, the status and the time taken. Only values the
// authorizer chose itself are logged (rule patterns, configured issuer URLs and client ids, stable
// codes): never the path or query (they may carry secrets), a header, a token, a signature, an API
// key or an admin token. test/e2e/logs.e2e.test.ts searches wrangler dev's output for every secret.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./routes/context";

/** What a handler learned while deciding; filled as it goes, so a denial still says how far it got. */
export interface Trace {
  /** The matching rule's `path`, or the /.auth/* route. */
  rule?: string;
  issuer?: string;
  client?: string;
  /** The denial's stable code. */
  reason?: string;
}

export interface DecisionLine extends Trace {
  event: "decision";
  requestId: string;
  method: string;
  outcome: "allowed" | "denied" | "error";
  status: number;
  latencyMs: number;
}

export const decisionLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  const trace: Trace = {};
  c.set("trace", trace);
  await next();
  const status = c.res.status;
  const line: DecisionLine = {
    event: "decision",
    // Cloudflare's ray id ties the line to the platform's own logs; locally there is none.
    requestId: c.req.header("cf-ray") ?? crypto.randomUUID(),
    method: c.req.method.slice(0, 16),
    outcome: status >= 500 ? "error" : status >= 400 ? "denied" : "allowed",
    status,
    latencyMs: Math.round(performance.now() - started),
    ...trace,
  };
  console.log(JSON.stringify(line));
};

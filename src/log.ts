// One structured JSON line per request, for `wrangler tail` and Workers Logs: which rule decided,
// the outcome, the reason code, the issuer, the status and the time taken. Only values the
// authorizer chose itself are logged (rule patterns, configured issuer URLs and client ids, stable
// codes): never the path or query (they may carry secrets), a header, a token, a signature, an API
// key or an admin token. test/e2e/logs.e2e.test.ts searches wrangler dev's output for every secret.
//
// LOG_DECISIONS thins the lines of authorization decisions (the gateway and /.auth/check): a
// console.log costs about as much CPU as authorizing a request with a cached token (bench/README.md).
//
// A leaf: it knows the line's fields, not who fills them (the decision's Trace, src/authorize.ts) or
// how the routes call it (the middleware in src/routes/context.ts).

/** The fields a decision fills in; see Trace in src/authorize.ts. */
export interface DecisionFields {
  rule?: string;
  issuer?: string;
  client?: string;
  reason?: string;
}

export interface DecisionLine extends DecisionFields {
  event: "decision";
  requestId: string;
  method: string;
  outcome: "allowed" | "denied" | "error";
  status: number;
  latencyMs: number;
}

/** Whether a decision answered with `status` is logged under LOG_DECISIONS (unknown: yes). */
export function logged(mode: "all" | "denials" | "errors" | undefined, status: number): boolean {
  return mode === undefined || mode === "all" || status >= (mode === "denials" ? 400 : 500);
}

/** Writes the decision line of a request that has been answered. */
export function logDecision(request: Request, trace: DecisionFields, status: number, started: number): void {
  const line: DecisionLine = {
    event: "decision",
    // Cloudflare's ray id ties the line to the platform's own logs; locally there is none.
    requestId: request.headers.get("cf-ray") ?? crypto.randomUUID(),
    method: request.method.slice(0, 16),
    outcome: status >= 500 ? "error" : status >= 400 ? "denied" : "allowed",
    status,
    latencyMs: Math.round(performance.now() - started),
    ...trace,
  };
  console.log(JSON.stringify(line));
}

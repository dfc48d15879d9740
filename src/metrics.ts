// Workers Analytics Engine data points, when the optional METRICS binding is there: one per
// decision (the gateway, /.auth/check and the other /.auth routes) and one per refresh of an
// isolate's revocation view. As in the decision log (log.ts), only values the authorizer chose go
// in: rule patterns, stable codes, configured issuer URLs and client ids, numbers. Never a path, a
// header, a token, a key or a secret. README.md, "Metrics", has the SQL that reads them.
//
// Layout (the SQL API names columns blob1.., double1.., index1):
//   decision:      index1 rule | blob1 "decision", blob2 rule, blob3 outcome, blob4 reason,
//                  blob5 issuer, blob6 client, blob7 token cache ("hit", "miss", "" when no token)
//                  | double1 latency ms, double2 status, double3 weight (1 / METRICS_SAMPLE_RATE)
//   view_refresh:  index1 "view" | blob1 "view_refresh", blob2 path ("fresh", "kv", ""), blob3 error
//                  | double1 age of the view before, ms, double2 entries, double3 seq, double4 ms taken
import type { DecisionFields } from "./log";
import type { ViewRefresh } from "./revocation/view";

export interface DecisionMetric extends DecisionFields {
  /** Whether the token's verification came from the verified-token cache; undefined: no token. */
  cached?: boolean;
}

/** AE keeps blobs up to 16 KiB in all; ours are short, but a configured name is cut, never refused. */
const blob = (value: string | undefined) => (value ?? "").slice(0, 256);

/**
 * Writes one decision. Allowed requests are sampled at `sampleRate` (each written one weighs
 * 1 / sampleRate, double3); denials and errors are always written.
 */
export function writeDecision(
  metrics: AnalyticsEngineDataset | undefined,
  fields: DecisionMetric,
  status: number,
  latencyMs: number,
  sampleRate: number,
): void {
  if (metrics === undefined) return;
  const sampled = status < 400 && sampleRate < 1;
  if (sampled && Math.random() >= sampleRate) return;
  const outcome = status >= 500 ? "error" : status >= 400 ? "denied" : "allowed";
  const cache = fields.cached === undefined ? "" : fields.cached ? "hit" : "miss";
  try {
    metrics.writeDataPoint({
      indexes: [blob(fields.rule)],
      blobs: [
        "decision",
        blob(fields.rule),
        outcome,
        blob(fields.reason),
        blob(fields.issuer),
        blob(fields.client),
        cache,
      ],
      doubles: [latencyMs, status, sampled ? 1 / sampleRate : 1],
    });
  } catch {
    // Metrics never fail a request.
  }
}

export function writeViewRefresh(metrics: AnalyticsEngineDataset | undefined, refresh: ViewRefresh): void {
  if (metrics === undefined) return;
  try {
    metrics.writeDataPoint({
      indexes: ["view"],
      blobs: ["view_refresh", refresh.path ?? "", refresh.lastError ?? ""],
      doubles: [refresh.ageBeforeMs ?? -1, refresh.entries, refresh.seq, refresh.durationMs],
    });
  } catch {
    // as above
  }
}

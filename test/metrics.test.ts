// The METRICS binding (Workers Analytics Engine): one data point per decision and per view refresh,
// in the layout src/metrics.ts documents, sampled when asked, never a token, a path or a secret.
import { env, reset } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, send, world } from "./helpers/app";

afterEach(async () => {
  vi.restoreAllMocks();
  await reset();
});

interface Point {
  indexes?: string[];
  blobs?: string[];
  doubles?: number[];
}

function recorder() {
  const points: Point[] = [];
  const dataset = { writeDataPoint: (p: Point) => void points.push(p) } as unknown as AnalyticsEngineDataset;
  return { points, dataset };
}

describe("METRICS", () => {
  it("writes one point per decision: rule, outcome, reason, issuer, cache, latency, status; and per view refresh", async () => {
    const { points, dataset } = recorder();
    const w = await world({
      METRICS: dataset,
      POLICY: { routes: [{ path: "/admin/*", require: { scopes: ["admin"] } }] },
    });
    const token = await w.idp.sign({ sub: "ann", scope: "read" });
    expect((await send(w.env, "/orders/secret-path?q=secret-query", bearer(token))).status).toBe(200);
    expect((await send(w.env, "/orders/2", bearer(token))).status).toBe(200);
    expect((await send(w.env, "/admin/x", bearer(token))).status).toBe(403);
    expect((await send(w.env, "/x")).status).toBe(401);
    const decisions = points.filter((p) => p.blobs![0] === "decision");
    expect(decisions.map((p) => p.blobs!.slice(1))).toEqual([
      ["/*", "allowed", "", w.idp.issuer, "", "miss"],
      ["/*", "allowed", "", w.idp.issuer, "", "hit"],
      ["/admin/*", "denied", "insufficient_scope", w.idp.issuer, "", "hit"],
      ["/*", "denied", "token_missing", "", "", ""],
    ]);
    expect(decisions.map((p) => p.doubles![1])).toEqual([200, 200, 403, 401]);
    expect(decisions.every((p) => p.doubles![0]! >= 0 && p.doubles![2] === 1)).toBe(true);
    expect(decisions[0]!.indexes).toEqual(["/*"]);
    const refreshes = points.filter((p) => p.blobs![0] === "view_refresh");
    expect(refreshes.length).toBeGreaterThanOrEqual(1);
    expect(refreshes[0]!.doubles).toHaveLength(4);
    const all = JSON.stringify(points);
    for (const secret of [token, "secret-path", "secret-query", "test-admin-token"]) expect(all).not.toContain(secret);
  });

  it("writes the /.auth routes' decisions too", async () => {
    const { points, dataset } = recorder();
    const w = await world({ METRICS: dataset });
    await send(w.env, "/.auth/revoke", { method: "POST", body: "{}" });
    expect(points.map((p) => p.blobs!.slice(0, 4))).toEqual([
      ["decision", "/.auth/revoke", "denied", "admin_unauthorized"],
    ]);
  });

  it("samples allowed decisions at METRICS_SAMPLE_RATE, weighting each, and keeps every denial", async () => {
    const { points, dataset } = recorder();
    const w = await world({ METRICS: dataset, METRICS_SAMPLE_RATE: 0.25 });
    const token = await w.idp.sign();
    const random = vi.spyOn(Math, "random");
    random.mockReturnValue(0.1);
    await send(w.env, "/x", bearer(token)); // written, weight 4
    random.mockReturnValue(0.9);
    await send(w.env, "/x", bearer(token)); // not written
    await send(w.env, "/x"); // a denial: always
    const decisions = points.filter((p) => p.blobs![0] === "decision");
    expect(decisions.map((p) => [p.blobs![2], p.doubles![2]])).toEqual([
      ["allowed", 4],
      ["denied", 1],
    ]);
  });

  it("works with the real binding under workerd, and without one", async () => {
    const real = (env as unknown as { METRICS: AnalyticsEngineDataset }).METRICS;
    expect(real).toBeDefined();
    const w = await world({ METRICS: real });
    expect((await send(w.env, "/x", bearer(await w.idp.sign()))).status).toBe(200);
    const without = await world({ METRICS: undefined });
    expect((await send(without.env, "/x", bearer(await without.idp.sign()))).status).toBe(200);
  });
});

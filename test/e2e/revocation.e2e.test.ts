// Revocation over HTTP and WebSocket under `wrangler dev`, with real issuer and origin processes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mint } from "../../scripts/demo-keys.mjs";
import { startStack, type Stack } from "./harness";

const STALENESS_SECONDS = 2;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    REVOCATION_MAX_STALENESS_SECONDS: String(STALENESS_SECONDS),
    POLICY: JSON.stringify({ routes: [{ path: "/strict/*", revocation: "strict" }] }),
  });
});
afterAll(async () => {
  await stack?.stop();
});

const token = (claims: Record<string, unknown>) => mint(claims, { file: stack.keyFile, issuer: stack.issuer });
const get = (path: string, t: string) =>
  fetch(`${stack.gateway}${path}`, { headers: { Authorization: `Bearer ${t}` } });
const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${stack.gateway}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${stack.adminToken}`, "Content-Type": "application/json", ...init.headers },
  });
const revoke = (body: unknown) => admin("/.auth/revoke", { method: "POST", body: JSON.stringify(body) });

/** Milliseconds from now until `path` answers `status` for `t`, polling every 50 ms for at most `maxMs`. */
async function msUntil(path: string, t: string, status: number, maxMs: number): Promise<number> {
  const started = Date.now();
  for (let i = 0; Date.now() - started < maxMs && i < 1000; i++) {
    if ((await get(path, t)).status === status) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  return Infinity;
}

describe("revocation under wrangler dev", () => {
  it("denies a revoked token within REVOCATION_MAX_STALENESS_SECONDS of the 200, and at once on strict routes", async () => {
    const t = await token({ sub: "alice" });
    expect((await get("/x", t)).status).toBe(200);
    const res = await revoke({ token: t });
    expect(res.status).toBe(200);
    const answeredAt = Date.now();
    expect((await get("/strict/x", t)).status).toBe(401);
    const ms = await msUntil("/x", t, 401, (STALENESS_SECONDS + 5) * 1000);
    console.log(
      `revoke 200 -> first denial on an eventual route: ${Date.now() - answeredAt} ms (bound ${STALENESS_SECONDS * 1000} ms)`,
    );
    expect(ms).toBeLessThanOrEqual(STALENESS_SECONDS * 1000 + 1000); // the bound, plus one poll and HTTP round trips
    // Through the fresh head (ctx.exports.RevocationHead under wrangler dev too), not KV alone.
    const health = (await (await fetch(`${stack.gateway}/.auth/health`)).json()) as {
      revocation: { view: { path: string } };
    };
    expect(health.revocation.view.path).toBe("fresh");
  });

  it("logs out in its three scopes", async () => {
    const a1 = await token({ sub: "u1", sid: "sa" });
    const a2 = await token({ sub: "u1", sid: "sa" });
    const b = await token({ sub: "u1", sid: "sb", scope: "openid" }); // ?scope=all needs openid (LOGOUT.all)
    const logout = (t: string, scope = "") =>
      fetch(`${stack.gateway}/.auth/logout${scope}`, { method: "POST", headers: { Authorization: `Bearer ${t}` } });
    expect((await logout(a1)).status).toBe(204);
    expect((await get("/strict/x", a1)).status).toBe(401);
    expect((await get("/strict/x", a2)).status).toBe(200);
    expect((await logout(a2, "?scope=session")).status).toBe(204);
    expect((await get("/strict/x", a2)).status).toBe(401);
    expect((await get("/strict/x", b)).status).toBe(200);
    expect((await logout(b, "?scope=all")).status).toBe(204);
    expect((await get("/strict/x", b)).status).toBe(401);
  });

  it("streams new revocations in seq order and pages the feed through next", async () => {
    const ws = new WebSocket(`${stack.gateway.replace("http", "ws")}/.auth/revocations/stream`, {
      headers: { Authorization: `Bearer ${stack.adminToken}` },
    } as never);
    const frames: { seq: number }[] = [];
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const got = new Promise<void>((resolve) => {
      ws.onmessage = (m) => {
        frames.push(JSON.parse(String(m.data)));
        if (frames.length === 10) resolve();
      };
    });
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        revoke({ sub: `stream-${i}` }).then((r) => r.json() as Promise<{ seq: number }>),
      ),
    );
    await Promise.race([got, new Promise((r) => setTimeout(r, 10_000))]);
    ws.close();
    const seqs = answers.map((a) => a.seq).sort((x, y) => x - y);
    expect(frames.map((f) => f.seq)).toEqual(seqs);

    const paged: number[] = [];
    let since: number | null = 0;
    for (let page = 0; since !== null && page < 50; page++) {
      const body = (await (await admin(`/.auth/revocations?since=${since}&limit=3`)).json()) as {
        events: { seq: number }[];
        next: number | null;
      };
      paged.push(...body.events.map((e) => e.seq));
      since = body.next;
    }
    expect(paged).toEqual([...paged].sort((x, y) => x - y));
    expect(paged).toEqual(expect.arrayContaining(seqs));
  });

  it("keeps every revocation across a restart of wrangler dev on the same --persist-to", async () => {
    const t = await token({ sub: "persisted", jti: "persisted-jti" });
    await revoke({ token: t });
    const before = (await (await admin("/.auth/revocations?limit=1000")).json()) as { events: unknown[] };
    await stack.restartGateway();
    const after = (await (await admin("/.auth/revocations?limit=1000")).json()) as { events: unknown[] };
    expect(after.events).toEqual(before.events);
    expect((await get("/x", t)).status).toBe(401);
    expect((await get("/strict/x", t)).status).toBe(401);
  });
});

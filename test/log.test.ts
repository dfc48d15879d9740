// The decision log's volume under LOG_DECISIONS: which requests get their one JSON line. What a line
// holds, and that it never holds a secret, is tested under wrangler dev (e2e/logs.e2e.test.ts).
import { afterEach, describe, expect, it, vi } from "vitest";
import { reset } from "cloudflare:test";
import { bearer, send, world } from "./helpers/app";

afterEach(async () => {
  vi.restoreAllMocks();
  await reset();
});

const POLICY = { routes: [{ path: "/public/*", auth: "none" }] };

/** The decision lines written while `run` goes, as parsed objects. */
async function linesDuring(run: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    if (typeof line === "string" && line.startsWith('{"event":"decision"'))
      lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return lines;
}

describe("LOG_DECISIONS", () => {
  for (const [mode, want] of [
    [
      undefined,
      ["allowed 200", "allowed 200", "denied 401", "allowed 200", "denied 401", "error 502", "allowed 200 health"],
    ],
    [
      "all",
      ["allowed 200", "allowed 200", "denied 401", "allowed 200", "denied 401", "error 502", "allowed 200 health"],
    ],
    ["denials", ["denied 401", "denied 401", "error 502", "allowed 200 health"]],
    ["errors", ["error 502", "allowed 200 health"]],
  ] as const) {
    it(`${mode ?? "unset (all)"}: logs ${want.length} of 7 requests`, async () => {
      const w = await world({ POLICY, ...(mode ? { LOG_DECISIONS: mode } : {}) });
      const token = await w.idp.sign();
      const lines = await linesDuring(async () => {
        expect((await send(w.env, "/x", bearer(token))).status).toBe(200);
        expect((await send(w.env, "/public/x")).status).toBe(200);
        expect((await send(w.env, "/x")).status).toBe(401);
        expect((await send(w.env, "/.auth/check/x", bearer(token))).status).toBe(200);
        expect((await send(w.env, "/.auth/check/x")).status).toBe(401);
        w.net.originBehaviour = () => Promise.reject(new TypeError("connection reset"));
        expect((await send(w.env, "/x", bearer(token))).status).toBe(502);
        // Not a decision: the authorizer's own routes are logged whatever the mode.
        expect((await send(w.env, "/.auth/health")).status).toBe(200);
      });
      expect(lines.map((l) => `${l.outcome} ${l.status}${l.rule === "/.auth/health" ? " health" : ""}`)).toEqual(want);
    });
  }

  it("refuses any other value, naming the var", async () => {
    const w = await world({ LOG_DECISIONS: "verbose" });
    const res = await send(w.env, "/x");
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).toContain("LOG_DECISIONS");
  });
});

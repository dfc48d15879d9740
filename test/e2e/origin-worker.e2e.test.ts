// A Worker as the origin under `wrangler dev`: the authorizer and the demo origin Worker
// (examples/origin-worker) in one `wrangler dev`, bound through the ORIGIN service binding. An
// approved request reaches the origin Worker with the identity headers and the URL ORIGIN_URL
// gives; a denied one does not; the origin Worker has no route of its own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mint } from "../../scripts/demo-keys.mjs";
import { startStack, type Stack } from "./harness";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ ORIGIN_URL: "https://api-origin.internal" }, { originWorker: true });
});
afterAll(async () => {
  await stack?.stop();
});

describe("the ORIGIN service binding under wrangler dev", () => {
  it("forwards approved requests to the origin Worker, never denied ones", async () => {
    const token = (await mint({ sub: "ann" }, { file: stack.keyFile, issuer: stack.issuer })) as string;
    const ok = await fetch(`${stack.gateway}/things/1?page=2`, {
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    const text = await ok.text();
    expect(ok.status, text).toBe(200);
    const echo = JSON.parse(text) as { via: string; url: string; headers: Record<string, string> };
    expect(echo.via).toBe("service-binding");
    expect(echo.url).toBe("https://api-origin.internal/things/1?page=2");
    expect(echo.headers["x-auth-subject"]).toBe("ann");
    const denied = await fetch(`${stack.gateway}/things/1`, { signal: AbortSignal.timeout(10_000) });
    expect(denied.status).toBe(401);
    expect(denied.headers.get("Content-Type")).toBe("application/problem+json");
  });
});

// A Worker as the origin, through the ORIGIN service binding: approved requests go to the origin
// Worker (examples/origin-worker, run beside the authorizer in workerd), never over the network;
// ORIGIN_URL still decides the URL it sees; denials never reach it.
import { env, reset } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, problemOf, send, world } from "./helpers/app";

afterEach(async () => {
  vi.restoreAllMocks();
  await reset();
});

interface Echo {
  via: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyBytes: number;
}

async function originWorld() {
  const w = await world({ POLICY: { routes: [{ path: "/public/*", auth: "none" }] } });
  const withOrigin = { ...w.env, ORIGIN: (env as unknown as { TEST_ORIGIN: Fetcher }).TEST_ORIGIN } as Env;
  return { ...w, env: withOrigin };
}

describe("the ORIGIN service binding", () => {
  it("sends approved requests to the origin Worker, with the identity headers, at ORIGIN_URL's URL", async () => {
    const w = await originWorld();
    const token = await w.idp.sign({ sub: "ann" });
    const res = await send(w.env, "/orders/7?x=1", {
      method: "POST",
      body: "hello",
      headers: { Authorization: `Bearer ${token}`, "X-Auth-Subject": "mallory" },
    });
    expect(res.status).toBe(200);
    const echo = (await res.json()) as Echo;
    expect(echo.via).toBe("service-binding");
    expect(echo.url).toBe("https://origin.test/orders/7?x=1");
    expect(echo.method).toBe("POST");
    expect(echo.bodyBytes).toBe(5);
    expect(echo.headers["x-auth-subject"]).toBe("ann");
    expect(w.net.fetched.filter((u) => new URL(u).host === "origin.test")).toEqual([]); // no network hop
    expect((await send(w.env, "/public/x")).status).toBe(200);
  });

  it("never reaches the origin Worker with a denial", async () => {
    const w = await originWorld();
    const res = await send(w.env, "/orders/7", bearer("not-a-token"));
    expect(res.status).toBe(401);
    expect((await problemOf(res)).code).toBe("token_malformed");
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
  });
});

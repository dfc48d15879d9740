// Drives the Worker (its default export, as workerd calls it) with the real bindings and a per-test configuration.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { expect, vi } from "vitest";
import worker from "../../src/index";
import { FakeNetwork, type FakeIssuer } from "./network";

export const GATEWAY = "https://gw.test";
let counter = 0;

/** A fresh issuer URL per call, so that no JWKS cache entry is shared between tests. */
export function uniqueIssuer(): string {
  counter++;
  return `https://idp-${counter}-${crypto.randomUUID().slice(0, 8)}.test`;
}

export type Vars = Record<string, unknown>;

export function makeEnv(vars: Vars): Env {
  return { ...env, ORIGIN_URL: "https://origin.test", POLICY: { routes: [] }, ...vars } as Env;
}

/** One request through the Worker; background work (waitUntil) is awaited before returning. */
export async function send(environment: Env, path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(path.startsWith("http") ? path : GATEWAY + path, init),
    environment,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

export function bearer(token: string, extra: Record<string, string> = {}): RequestInit {
  return { headers: { Authorization: `Bearer ${token}`, ...extra } };
}

export async function problemOf(response: Response): Promise<Record<string, unknown>> {
  expect(response.headers.get("Content-Type")).toBe("application/problem+json");
  return (await response.json()) as Record<string, unknown>;
}

export interface World {
  net: FakeNetwork;
  idp: FakeIssuer;
  env: Env;
}

/** A network with one issuer holding one key of `alg`, and a Worker env trusting it for audience "api". */
export async function world(vars: Vars = {}, alg = "ES256"): Promise<World> {
  const net = new FakeNetwork();
  const idp = net.issuer(uniqueIssuer());
  await idp.addKey(alg);
  net.install();
  const environment = makeEnv({ ISSUERS: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ["api"] }], ...vars });
  return { net, idp, env: environment };
}

/**
 * The tests' one clock: freezes Date (timers keep running, so fetch timeouts still work; the Durable
 * Objects run in this isolate and see it too) and returns a way to move it forward by seconds.
 */
export function freezeClock() {
  vi.useFakeTimers({ toFake: ["Date"] });
  let t = Date.now();
  vi.setSystemTime(t);
  return { advance: (s: number) => vi.setSystemTime((t += s * 1000)) };
}

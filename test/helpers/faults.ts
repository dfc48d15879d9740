// The neighbours of test/faults.test.ts at their boundaries, each able to fail on demand: the
// ledger's KV binding (writes fail or hang), the ledger binding itself (throws, hangs, answers too
// late), an issuer that also answers 500, a ledger crash; and a request timed to its response.
import { createExecutionContext, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index";
import { LEDGER_TIMEOUT_MS } from "../../src/constants";
import { ledgerOf, type RevocationLedger } from "../../src/revocation/ledger";
import { RISC_ACCOUNT_DISABLED } from "../../src/revocation/security-events";
import { BACKCHANNEL_LOGOUT_EVENT } from "../../src/token/event-token";
import { GATEWAY, makeEnv, type World } from "./app";
import { FlakyKv } from "./kv";
import type { IssuerMode } from "./network";

export const wall = Date.now.bind(Date);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const ADMIN = { Authorization: "Bearer test-admin-token-0001", "Content-Type": "application/json" };
export const RP = "rp-1";
export const POLICY = { routes: [{ path: "/strict/*", revocation: "strict" }] };

export interface Timed {
  res: Response;
  ms: number;
  code?: string;
}

/**
 * One request through the Worker, timed to its response (background work is awaited after). Its
 * context has no ctx.exports, so isolates use KV alone: these are KV's and the ledger's faults (the
 * fresh head reaches the real ledger, around the faults injected here); the fresh path's own are in
 * fresh-head.test.ts.
 */
export async function timed(environment: Env, path: string, init?: RequestInit): Promise<Timed> {
  const ctx = createExecutionContext();
  const kvOnly = {
    waitUntil: (p: Promise<unknown>) => ctx.waitUntil(p),
    passThroughOnException: () => ctx.passThroughOnException(),
    props: {},
  } as unknown as ExecutionContext;
  const started = wall();
  const res = await worker.fetch(new Request(GATEWAY + path, init), environment, kvOnly);
  const ms = wall() - started;
  await waitOnExecutionContext(ctx);
  const type = res.headers.get("Content-Type") ?? "";
  const code = type.includes("json") ? ((await res.clone().json()) as { code?: string }).code : undefined;
  return { res, ms, code };
}
export const post = (environment: Env, path: string, body: unknown, headers: Record<string, string> = {}) =>
  timed(environment, path, { method: "POST", headers: { ...ADMIN, ...headers }, body: JSON.stringify(body) });

/** The Worker env of `w` with strict routes, logout audiences and a fresh edge view (its own KV wrapper). */
export function edgeEnv(w: World, vars: Record<string, unknown> = {}): Env & { kv: FlakyKv } {
  const kv = new FlakyKv();
  const e = makeEnv({
    ...w.env,
    ISSUERS: [{ issuer: w.idp.issuer, jwksUri: w.idp.jwksUri, audiences: ["api"], logoutAudiences: [RP] }],
    POLICY,
    REVOCATIONS: kv.binding(),
    REVOCATION_MAX_STALENESS_SECONDS: 1,
    ...vars,
  });
  return Object.assign(e, { kv });
}

export type Flap = IssuerMode | "500";
/** Lets the fake issuer also answer 500, a mode the shared helper does not have. */
export function flappable(w: World): (mode: Flap) => void {
  let fiveHundred = false;
  const original = w.idp.handle.bind(w.idp);
  w.idp.handle = async (url, signal) => {
    if (!fiveHundred || url.pathname !== "/jwks.json") return original(url, signal);
    w.idp.jwksFetches++;
    return new Response("internal error", { status: 500 });
  };
  return (mode) => {
    fiveHundred = mode === "500";
    w.idp.mode = mode === "500" ? "ok" : mode;
  };
}

/** The ledger's own KV binding, at the boundary: writes fail, hang, or go through. */
export class LedgerKv {
  mode: "ok" | "fail" | "hang" = "ok";
  failed = 0;
  binding(): KVNamespace {
    const inner = env.REVOCATIONS;
    const write = (op: () => Promise<void>) => {
      if (this.mode === "fail") return (this.failed++, Promise.reject(new Error("KV write failed (429)")));
      return this.mode === "hang" ? new Promise<void>(() => {}) : op();
    };
    return {
      get: (k: string, t?: unknown) => (inner.get as (k: string, t?: unknown) => Promise<unknown>)(k, t),
      put: (k: string, v: string) => write(() => inner.put(k, v)),
      delete: (k: string) => write(() => inner.delete(k)),
    } as unknown as KVNamespace;
  }
  /** Puts this wrapper under the running ledger instance (until it restarts). */
  async install(): Promise<void> {
    const kv = this.binding();
    await runInDurableObject(ledgerOf(env), (instance: RevocationLedger) => {
      const current = (instance as unknown as { env: Env }).env;
      Object.defineProperty(instance, "env", { value: { ...current, REVOCATIONS: kv } });
    });
  }
}

export const alarmInMs = () =>
  runInDurableObject(
    ledgerOf(env),
    async (_: RevocationLedger, s) => ((await s.storage.getAlarm()) ?? NaN) - Date.now(),
  );

/** Polls `done` every 100 ms for at most `maxMs`; the time it took, or Infinity. */
export async function within(maxMs: number, done: () => Promise<boolean>): Promise<number> {
  const started = wall();
  for (let i = 0; i < maxMs / 100 + 1; i++) {
    if (await done()) return wall() - started;
    await sleep(100);
  }
  return Infinity;
}

/** The ledger binding, at the boundary: each call goes through, throws, hangs, or is done but answered too late. */
export class FlakyLedger {
  mode: "ok" | "down" | "hang" | "late" = "ok";
  faults = 0;
  /** Calls of check(), in any mode. */
  checks = 0;
  binding(): DurableObjectNamespace<RevocationLedger> {
    const call =
      (name: string) =>
      (...args: unknown[]): Promise<unknown> => {
        const real = () =>
          (ledgerOf(env) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!(...args);
        if (name === "check") this.checks++;
        if (this.mode === "ok") return real();
        this.faults++;
        if (this.mode === "down") return Promise.reject(new Error("Durable Object unreachable"));
        if (this.mode === "hang") return new Promise(() => {});
        return real().then(async (v) => (await sleep(LEDGER_TIMEOUT_MS + 500), v));
      };
    const stub = Object.fromEntries(
      ["check", "revoke", "revokeOnce", "logout", "feed", "fetch"].map((n) => [n, call(n)]),
    );
    return {
      idFromName: (n: string) => env.REVOCATION_LEDGER.idFromName(n),
      get: () => stub,
    } as unknown as DurableObjectNamespace<RevocationLedger>;
  }
}

export const form = (token: string): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({ logout_token: token }).toString(),
});
export const logoutToken = (w: World, sid: string) =>
  w.idp.sign(
    { aud: RP, exp: null, scope: null, sid, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } },
    { header: { typ: "logout+jwt" } },
  );
export const setToken = (w: World, sub: string) =>
  w.idp.sign(
    { aud: RP, exp: null, scope: null, sub, events: { [RISC_ACCOUNT_DISABLED]: {} } },
    { header: { typ: "secevent+jwt" } },
  );
export async function feedValues(): Promise<string[]> {
  return (await ledgerOf(env).feed(0, 1000)).map((e) => `${e.revocation.kind}:${e.revocation.value}`);
}
/** Resets the ledger's instance as a crash or a deploy would: its in-flight calls fail, its storage stays. */
export const crash = () =>
  runInDurableObject(ledgerOf(env), (_: RevocationLedger, state) => state.abort("fault injected")).catch(() => {});

// Faults of every neighbour (issue 7, item 2) in workerd with the real KV and Durable Object, and
// the index of every fault in the README's "When a neighbour fails" table: where another file
// already tests a fault well, it is listed here rather than repeated. (e2e/ = test/e2e/)
//
// fault                                  -> file > test
// JWKS down/404/not JSON/not a JWKS/100 MB/slow, no key cached
//                                        -> jwks.test.ts > when the issuer fails > answers 503 ... the issuer is <mode>
// JWKS down with keys cached; stale bound -> jwks.test.ts > when the issuer fails > keeps serving the last good key set ...; answers 503 once the stale set is past its bound
// JWKS flapping, cold and warm; resetting -> here > JWKS > flapping ...; e2e/faults.e2e.test.ts > the JWKS server > flapping ... (real server: resets, a real 100 MB body)
// JWKS slow past the timeout (discovery)  -> here > JWKS > slow discovery then a slow JWKS ...
// JWKS drops the current key              -> jwks.test.ts > rotation ... > drops a key that left the JWKS ...; verified-cache.test.ts > stops passing once its key has left ...
// origin resetting / down / 5xx           -> e2e/faults.e2e.test.ts > the origin > resetting connections ...; resetting after its headers ...; here > origin > ...
// origin slow                             -> e2e/faults.e2e.test.ts > the origin > never answering ...; proxy.test.ts > answers 504 when the origin does not answer in time
// KV writes failing for a while           -> here > KV > writes failing ...; ledger.test.ts > the KV outbox > answers while KV fails ...
// KV reads failing                        -> here > KV > reads failing ...; revocation-view.test.ts > keeps the last view when a refresh fails but no longer vouches ...; refuses to vouch ...
// the ledger restarted mid-revoke         -> here > ledger > restarted mid-revoke ... (twice: after the answer, before the KV write); ledger.test.ts > loses nothing when the ledger restarts ...; e2e/revocation.e2e.test.ts > keeps every revocation across a restart ...
// the ledger unreachable/hanging/late     -> here > ledger > unreachable ...; hanging, or answering after ...; revocation-routes.test.ts > reports the ledger unreachable ...
// the revocation stream, ledger down      -> here > ledger > revocation stream with the ledger unreachable ...
//
// Each test prints one "faults: ..." line: faults injected, recoveries seen, latency against the
// stated bound (wall time around one request; Date.now is captured before any test freezes Date).
import { env, reset } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { JWKS_FETCH_TIMEOUT_MS, LEDGER_TIMEOUT_MS } from "../src/constants";
import { ledgerOf } from "../src/revocation/ledger";
import { bearer, freezeClock, world } from "./helpers/app";
import {
  ADMIN,
  alarmInMs,
  crash,
  edgeEnv,
  feedValues,
  FlakyLedger,
  flappable,
  form,
  LedgerKv,
  logoutToken,
  post,
  setToken,
  sleep,
  timed,
  within,
  type Flap,
  type Timed,
} from "./helpers/faults";
import { quietDecisionLog } from "./helpers/properties";

/** Over a stated bound, for a busy machine: a correctness bound, not a performance figure. */
const SLACK_MS = 1_500;

quietDecisionLog(); // the Worker's one line per request; the "faults:" lines stay
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await reset();
});

// ─── JWKS ────────────────────────────────────────────────────────────────────────────────────────

describe("JWKS", () => {
  it("flapping 500 / garbage / slow / 404 / 100 MB / not a JWKS / down, cold then warm, then steady: the README's answers, and valid tokens pass again by themselves", async () => {
    const clock = freezeClock();
    const w = await world();
    const e = edgeEnv(w);
    const flap = flappable(w);
    const revoked = await w.idp.sign({ sub: "mallory" });
    expect((await post(e, "/.auth/revoke", { token: revoked })).res.status).toBe(200);
    const modes: Flap[] = ["500", "garbage", "slow", "not-found", "huge", "not-jwks", "down"];
    let faults = 0;
    let maxMs = 0;

    // Cold: no key cached. Each flap is asked once (single flight, then the cooldown): 503 for all.
    for (const mode of modes) {
      clock.advance(6);
      flap(mode);
      const before = w.idp.jwksFetches;
      const tokens = await Promise.all([1, 2, 3, 4].map(() => w.idp.sign()));
      const answers = await Promise.all([...tokens, revoked].map((t) => timed(e, "/x", bearer(t))));
      for (const a of answers) {
        expect([a.res.status, a.res.headers.get("Retry-After"), a.code], mode).toEqual([503, "5", "jwks_unavailable"]);
        expect(a.ms).toBeLessThan(JWKS_FETCH_TIMEOUT_MS + SLACK_MS);
        maxMs = Math.max(maxMs, a.ms);
      }
      expect(w.idp.jwksFetches - before, mode).toBe(1);
      faults++;
    }
    expect(w.net.originRequests).toHaveLength(0);
    clock.advance(6);
    flap("ok");
    expect((await timed(e, "/x", bearer(await w.idp.sign()))).res.status).toBe(200);
    expect((await timed(e, "/x", bearer(revoked))).code).toBe("token_revoked");

    // Warm: the set is past its max-age and a key is rotated in at the issuer while it flaps. The
    // cached keys keep verifying; a token of the new key is 503 jwks_unavailable (not 401: the key
    // may well be the issuer's) until the set is back.
    clock.advance(301);
    const rotated = await w.idp.addKey("ES256", "rotated-in");
    for (const mode of modes) {
      clock.advance(6);
      flap(mode);
      const old = await timed(e, "/x", bearer(await w.idp.sign()));
      expect(old.res.status, mode).toBe(200);
      expect(old.ms).toBeLessThan(SLACK_MS); // the refresh runs in the background, never in the request
      maxMs = Math.max(maxMs, old.ms);
      const fresh = await timed(e, "/x", bearer(await w.idp.sign({}, { kid: rotated.kid })));
      expect([fresh.res.status, fresh.res.headers.get("Retry-After"), fresh.code], mode).toEqual([
        503,
        "5",
        "jwks_unavailable",
      ]);
      expect((await timed(e, "/x", bearer(revoked))).code).toBe("token_revoked");
      faults++;
    }
    clock.advance(6);
    flap("ok");
    expect((await timed(e, "/x", bearer(await w.idp.sign()))).res.status).toBe(200); // refreshes behind it
    expect((await timed(e, "/x", bearer(await w.idp.sign({}, { kid: rotated.kid })))).res.status).toBe(200);
    const health = (await (await timed(e, "/.auth/health")).res.json()) as {
      issuers: { jwks: { fresh: boolean; lastError: string | null } }[];
    };
    expect(health.issuers[0]!.jwks).toMatchObject({ fresh: true, lastError: null });
    console.log(
      `faults: jwks flapping ${faults} injected (${modes.length} cold, ${modes.length} warm), recovered 2 of 2; max latency ${maxMs} ms (bound ${JWKS_FETCH_TIMEOUT_MS} + ${SLACK_MS} ms)`,
    );
  });

  it("slow discovery then a slow JWKS: 503 bounded by the two fetch timeouts (3 s each), then recovers", async () => {
    const clock = freezeClock(); // Date only: the fetch timeouts stay real
    const w = await world();
    const e = edgeEnv(w, { ISSUERS: [{ issuer: w.idp.issuer, audiences: ["api"] }] }); // no jwksUri: discovery
    const original = w.idp.handle.bind(w.idp);
    let slowDiscovery = true;
    w.idp.handle = async (url, signal) => {
      if (slowDiscovery && url.pathname === "/.well-known/openid-configuration")
        await sleep(JWKS_FETCH_TIMEOUT_MS - 500);
      return original(url, signal);
    };
    w.idp.mode = "slow";
    const slow = await timed(e, "/x", bearer(await w.idp.sign()));
    expect([slow.res.status, slow.code]).toEqual([503, "jwks_unavailable"]);
    expect(slow.ms).toBeGreaterThan(JWKS_FETCH_TIMEOUT_MS); // more than one fetch timeout
    expect(slow.ms).toBeLessThan(2 * JWKS_FETCH_TIMEOUT_MS + SLACK_MS);
    slowDiscovery = false;
    w.idp.mode = "ok";
    clock.advance(6); // past the refetch cooldown
    expect((await timed(e, "/x", bearer(await w.idp.sign()))).res.status).toBe(200);
    console.log(
      `faults: jwks slow through discovery 1 injected, recovered; ${slow.ms} ms (bound 2 x ${JWKS_FETCH_TIMEOUT_MS} + ${SLACK_MS} ms)`,
    );
  });
});

// ─── origin ──────────────────────────────────────────────────────────────────────────────────────

describe("origin", () => {
  it("resetting, 5xx and fine at once: each concurrent request gets its own answer, none is sent twice", async () => {
    const w = await world();
    const calls = new Map<string, number>();
    w.net.originBehaviour = (req) => {
      const path = new URL(req.url).pathname;
      calls.set(path, (calls.get(path) ?? 0) + 1);
      if (path.startsWith("/reset/")) return Promise.reject(new TypeError("connection reset by peer"));
      if (path.startsWith("/5xx/"))
        return Promise.resolve(new Response(`down ${path}`, { status: 500 + (path.length % 4) }));
      return undefined; // the echo
    };
    const [token, revoked] = await Promise.all([w.idp.sign(), w.idp.sign({ sub: "mallory" })]);
    const e = edgeEnv(w);
    expect((await post(e, "/.auth/revoke", { token: revoked })).res.status).toBe(200);
    const paths = Array.from({ length: 30 }, (_, i) => `/${["reset", "5xx", "ok"][i % 3]}/${i}`);
    const [denied, ...answers] = await Promise.all([
      timed(e, "/reset/revoked", bearer(revoked)),
      ...paths.map((p) => timed(e, p, { method: "POST", body: p, ...bearer(token) })),
    ]);
    expect([denied!.res.status, denied!.code, calls.get("/reset/revoked")]).toEqual([401, "token_revoked", undefined]);
    let faults = 0;
    for (const [i, p] of paths.entries()) {
      const a = answers[i]!;
      expect(calls.get(p), p).toBe(1);
      expect(a.ms).toBeLessThan(SLACK_MS);
      if (p.startsWith("/reset/")) expect([a.res.status, a.code]).toEqual([502, "origin_unreachable"]);
      else if (p.startsWith("/5xx/"))
        expect([a.res.status, await a.res.text()]).toEqual([500 + (p.length % 4), `down ${p}`]);
      else expect((await a.res.json()) as { url: string }).toMatchObject({ url: `https://origin.test${p}` });
      if (!p.startsWith("/ok/")) faults++;
    }
    console.log(
      `faults: origin reset/5xx ${faults} injected among 30 concurrent requests, every next request recovered; max latency ${Math.max(...answers.map((a) => a.ms))} ms`,
    );
  });
});

// ─── KV ──────────────────────────────────────────────────────────────────────────────────────────

describe("KV", () => {
  it("writes failing for a while: revokes answer 200, strict routes deny at once, the outbox retries within 1 s, then doubling, by itself, nothing acknowledged is lost", async () => {
    const w = await world();
    const e = edgeEnv(w);
    const kv = new LedgerKv();
    await kv.install();
    kv.mode = "fail";
    const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => w.idp.sign({ sub: `u${i}` })));
    const acked: string[] = [];
    const revoke = async (t: string) => {
      const r = await post(e, "/.auth/revoke", { token: t });
      expect(r.res.status).toBe(200);
      expect(r.ms).toBeLessThan(LEDGER_TIMEOUT_MS + SLACK_MS);
      acked.push(t);
    };
    await revoke(tokens[0]!);
    // The outage lasts three attempts of the alarm; each failed attempt doubles the wait.
    const delays = [await alarmInMs()];
    while (delays.length < 3) {
      const n = kv.failed;
      let next = NaN;
      expect(await within(10_000, async () => kv.failed > n && (next = await alarmInMs()) > 0)).toBeLessThan(Infinity);
      delays.push(next);
    }
    expect(delays[0]).toBeLessThanOrEqual(1_000); // README: a first retry within 1 s, then doubling
    expect(delays[1]).toBeGreaterThan(delays[0]!);
    expect(delays[2]! / delays[1]!).toBeCloseTo(2, 0);
    for (const t of tokens.slice(1)) await revoke(t); // more revokes during the outage, each a failed write too
    for (const t of acked) expect((await timed(e, "/strict/x", bearer(t))).code).toBe("token_revoked");
    expect((await timed(e, "/x", bearer(acked[0]!))).res.status).toBe(200); // eventual: KV does not hold it yet
    kv.mode = "ok";
    const recoveredMs = await within(delays[2]! + SLACK_MS * 2, async () => (await ledgerOf(env).pending()) === 0);
    expect(recoveredMs).toBeLessThan(Infinity);
    await sleep(1_100); // the edge view's staleness bound (1 s)
    for (const t of acked) expect((await timed(e, "/x", bearer(t))).code).toBe("token_revoked");
    expect((await timed(e, "/x", bearer(await w.idp.sign()))).res.status).toBe(200);
    console.log(
      `faults: kv writes ${kv.failed} failed writes injected, retries after ${delays.map((d) => Math.round(d)).join(" / ")} ms, recovered ${recoveredMs} ms after KV was back; ${acked.length}/${acked.length} acknowledged revocations in KV`,
    );
  }, 40_000);

  it("reads failing: eventual routes ask the ledger once the view is past the bound (once per token per window), so a revocation made meanwhile holds; 503 only when the ledger fails too; KV's return ends it within 1 s", async () => {
    const clock = freezeClock();
    const w = await world();
    const ledger = new FlakyLedger();
    const e = edgeEnv(w, { REVOCATION_LEDGER: ledger.binding() });
    const [a, b, c] = await Promise.all([w.idp.sign({ sub: "a" }), w.idp.sign({ sub: "b" }), w.idp.sign({ sub: "c" })]);
    expect((await post(e, "/.auth/revoke", { token: a })).res.status).toBe(200);
    let failedReads = 0;
    let r0 = e.kv.reads;
    e.kv.failReads = true;
    // Cold (no view yet): the ledger answers for it.
    const cold = await timed(e, "/x", bearer(b));
    expect(cold.res.status).toBe(200);
    expect(cold.ms).toBeLessThan(SLACK_MS);
    expect((await timed(e, "/x", bearer(a))).code).toBe("token_revoked");
    // The ledger's answer is kept for the token for one window: no call per request.
    const checks = ledger.checks;
    for (let i = 0; i < 5; i++) expect((await timed(e, "/x", bearer(b))).res.status).toBe(200);
    expect(ledger.checks).toBe(checks);
    clock.advance(1);
    ledger.mode = "down";
    const neither = await timed(e, "/x", bearer(b));
    expect([neither.res.status, neither.res.headers.get("Retry-After"), neither.code]).toEqual([
      503,
      "5",
      "revocations_unavailable",
    ]);
    ledger.mode = "ok";
    failedReads += e.kv.reads - r0;
    e.kv.failReads = false;
    clock.advance(1);
    expect((await timed(e, "/x", bearer(b))).res.status).toBe(200);
    expect((await timed(e, "/x", bearer(a))).code).toBe("token_revoked");

    // Warm: a revocation made while KV cannot be read is denied once the view is past the bound.
    r0 = e.kv.reads;
    e.kv.failReads = true;
    expect((await post(e, "/.auth/revoke", { token: c })).res.status).toBe(200); // the ledger still writes KV
    clock.advance(2);
    expect((await timed(e, "/x", bearer(c))).code).toBe("token_revoked"); // from the ledger, within the bound
    expect((await timed(e, "/x", bearer(a))).code).toBe("token_revoked");
    expect((await timed(e, "/x", bearer(b))).res.status).toBe(200);
    clock.advance(1); // past the window the ledger's answers were kept for
    const asked = ledger.faults;
    ledger.mode = "down";
    expect((await timed(e, "/x", bearer(b))).code).toBe("revocations_unavailable"); // never a guess from a stale view
    expect(ledger.faults).toBe(asked + 1);
    ledger.mode = "ok";
    failedReads += e.kv.reads - r0;
    e.kv.failReads = false;
    clock.advance(1);
    const reads = e.kv.reads;
    expect((await timed(e, "/x", bearer(c))).code).toBe("token_revoked"); // from the view again
    expect((await timed(e, "/x", bearer(b))).res.status).toBe(200);
    expect(e.kv.reads).toBeGreaterThan(reads);
    console.log(
      `faults: kv reads ${failedReads} failed reads injected (cold and warm), the ledger answered meanwhile, 503 only with both down; recovered within 1 s of KV's return`,
    );
  });
});

// ─── ledger ──────────────────────────────────────────────────────────────────────────────────────

describe("ledger", () => {
  it("unreachable: strict routes, revoke, logout, feed 503 revocations_unavailable, logout and SET deliveries 503 temporarily_unavailable, at once; eventual routes unaffected; each recovers per request", async () => {
    const w = await world();
    const ledger = new FlakyLedger();
    const e = edgeEnv(w, { REVOCATION_LEDGER: ledger.binding() });
    const revoked = await w.idp.sign({ sub: "mallory" });
    expect((await post(e, "/.auth/revoke", { token: revoked })).res.status).toBe(200);
    const [good, later, bcl, set] = await Promise.all([
      w.idp.sign({ sid: "s-1" }),
      w.idp.sign({ sub: "later" }),
      logoutToken(w, "s-9"),
      setToken(w, "eve"),
    ]);
    const requests: [string, number, () => Promise<Timed>][] = [
      ["strict", 200, () => timed(e, "/strict/x", bearer(good))],
      ["strict, revoked", 401, () => timed(e, "/strict/x", bearer(revoked))],
      ["revoke", 200, () => post(e, "/.auth/revoke", { token: later })],
      [
        "revoke with Idempotency-Key",
        200,
        () => post(e, "/.auth/revoke", { sub: "later" }, { "Idempotency-Key": "k-1" }),
      ],
      ["logout", 204, () => timed(e, "/.auth/logout", { method: "POST", ...bearer(good) })],
      ["feed", 200, () => timed(e, "/.auth/revocations", { headers: ADMIN })],
      ["back-channel logout", 200, () => timed(e, "/.auth/backchannel-logout", form(bcl))],
      [
        "security event",
        202,
        () =>
          timed(e, "/.auth/events", {
            method: "POST",
            headers: { "Content-Type": "application/secevent+jwt" },
            body: set,
          }),
      ],
    ];
    ledger.mode = "down";
    let maxMs = 0;
    for (const [name, , go] of requests) {
      const a = await go();
      expect([a.res.status, a.res.headers.get("Retry-After")], name).toEqual([503, "5"]);
      expect(a.ms).toBeLessThan(SLACK_MS);
      maxMs = Math.max(maxMs, a.ms);
      const body = (await a.res.json()) as Record<string, string>;
      if (name === "back-channel logout") expect(body.error).toBe("temporarily_unavailable");
      else if (name === "security event") expect(body.err).toBe("temporarily_unavailable");
      else expect(body.code, name).toBe("revocations_unavailable");
    }
    expect((await timed(e, "/x", bearer(good))).res.status).toBe(200);
    expect((await timed(e, "/x", bearer(revoked))).code).toBe("token_revoked");
    const faults = ledger.faults;
    ledger.mode = "ok";
    for (const [name, status, go] of requests) expect((await go()).res.status, name).toBe(status);
    expect((await timed(e, "/strict/x", bearer(good))).code).toBe("token_revoked"); // its logout landed
    expect(await feedValues()).toEqual(expect.arrayContaining(["sid:s-9", "sub:eve", "sub:later"]));
    console.log(
      `faults: ledger unreachable ${faults} injected over ${requests.length} routes, ${requests.length} recovered per request; max latency ${maxMs} ms`,
    );
  });

  it("hanging, or answering after the Worker gave up: 503 within 5 s; a keyed revoke retried gets its first answer; a logout token retried after it landed is refused as replayed, and holds", async () => {
    const w = await world();
    const [hang, late, lateLogout] = [new FlakyLedger(), new FlakyLedger(), new FlakyLedger()];
    const [eHang, eLate, eLateLogout] = [hang, late, lateLogout].map((l) =>
      edgeEnv(w, { REVOCATION_LEDGER: l.binding() }),
    );
    hang.mode = "hang";
    late.mode = lateLogout.mode = "late";
    const [good, victim, bcl, inSession] = await Promise.all([
      w.idp.sign(),
      w.idp.sign({ sub: "victim" }),
      logoutToken(w, "s-7"),
      w.idp.sign({ sid: "s-7" }),
    ]);
    const answers = await Promise.all([
      timed(eHang!, "/strict/x", bearer(good)),
      post(eLate!, "/.auth/revoke", { token: victim }, { "Idempotency-Key": "k-late" }),
      timed(eLateLogout!, "/.auth/backchannel-logout", form(bcl)),
    ]);
    for (const a of answers) {
      expect([a.res.status, a.res.headers.get("Retry-After")]).toEqual([503, "5"]);
      expect(a.ms).toBeGreaterThanOrEqual(LEDGER_TIMEOUT_MS - 100);
      expect(a.ms).toBeLessThan(LEDGER_TIMEOUT_MS + SLACK_MS);
    }
    hang.mode = late.mode = lateLogout.mode = "ok";
    expect((await timed(eHang!, "/strict/x", bearer(good))).res.status).toBe(200);
    const retried = await post(eLate!, "/.auth/revoke", { token: victim }, { "Idempotency-Key": "k-late" });
    expect(retried.res.status).toBe(200);
    const jti = JSON.parse(atob(victim.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))).jti as string;
    expect((await feedValues()).filter((v) => v === `jti:${jti}`)).toHaveLength(1);
    expect(((await retried.res.json()) as { seq: number }).seq).toBe(
      (await ledgerOf(env).feed(0, 10)).find((ev) => ev.revocation.value === jti)!.seq,
    );
    const again = await timed(eLateLogout!, "/.auth/backchannel-logout", form(bcl));
    expect([again.res.status, ((await again.res.json()) as { error: string }).error]).toEqual([400, "invalid_request"]);
    expect((await timed(eLateLogout!, "/strict/x", bearer(inSession))).code).toBe("token_revoked");
    console.log(
      `faults: ledger hanging/late ${hang.faults + late.faults + lateLogout.faults} injected, recovered 3 of 3; latency ${answers.map((a) => a.ms).join(" / ")} ms (bound ${LEDGER_TIMEOUT_MS} + ${SLACK_MS} ms)`,
    );
  }, 30_000);

  it("restarted mid-revoke: every revoke answered 200 is kept and published by itself; those cut off got 503, were stored, and a retry is answered 200", async () => {
    const w = await world();
    const e = edgeEnv(w);
    const kv = new LedgerKv();
    await kv.install();
    kv.mode = "fail"; // the first three are answered 200 with KV failing: the alarm will retry them
    const acked = await Promise.all(Array.from({ length: 3 }, (_, i) => w.idp.sign({ sub: `acked-${i}` })));
    for (const t of acked) expect((await post(e, "/.auth/revoke", { token: t })).res.status).toBe(200);
    kv.mode = "hang"; // the next three are stored, then wait on KV when the ledger goes down
    const cut = await Promise.all(Array.from({ length: 3 }, (_, i) => w.idp.sign({ sub: `cut-${i}` })));
    const inflight = cut.map((t) => post(e, "/.auth/revoke", { token: t }));
    expect(await within(2_000, async () => (await ledgerOf(env).lastSeq()) === 6)).toBeLessThan(Infinity);
    await crash();
    for (const a of await Promise.all(inflight)) {
      expect([a.res.status, a.code]).toEqual([503, "revocations_unavailable"]);
      expect(a.ms).toBeLessThan(LEDGER_TIMEOUT_MS + SLACK_MS);
    }
    const recoveredMs = await within(10_000, async () => (await ledgerOf(env).pending()) === 0);
    expect(recoveredMs).toBeLessThan(Infinity);
    for (const t of [...acked, ...cut]) expect((await timed(e, "/x", bearer(t))).code).toBe("token_revoked");
    for (const t of cut) expect((await post(e, "/.auth/revoke", { token: t })).res.status).toBe(200);
    expect(await ledgerOf(env).lastSeq()).toBe(6); // the retries found their entries: no second one
    console.log(
      `faults: ledger restart mid-revoke 1 injected (${cut.length} revokes cut off), recovered ${recoveredMs} ms later by its alarm; ${acked.length}/${acked.length} acknowledged revocations in KV`,
    );
  }, 30_000);

  // Found by this suite: the ledger set the alarm that retries the outbox only after the KV write
  // (or its 2 s wait), so a restart in between left a stored entry unpublished until some later
  // revoke. The alarm is now set before the write.
  it("restarted mid-revoke before the KV write: a stored revocation is published by itself", async () => {
    const w = await world();
    const e = edgeEnv(w);
    const kv = new LedgerKv();
    await kv.install();
    kv.mode = "hang";
    const token = await w.idp.sign({ sub: "cut" });
    const inflight = post(e, "/.auth/revoke", { token });
    expect(await within(2_000, async () => (await ledgerOf(env).lastSeq()) === 1)).toBeLessThan(Infinity);
    await crash();
    expect((await inflight).res.status).toBe(503);
    expect((await timed(e, "/strict/x", bearer(token))).code).toBe("token_revoked");
    const recoveredMs = await within(5_000, async () => (await ledgerOf(env).pending()) === 0);
    console.log(
      `faults: ledger restart before its alarm 1 injected, ${recoveredMs === Infinity ? "NOT recovered within 5 s" : `recovered in ${recoveredMs} ms`}`,
    );
    expect(recoveredMs).toBeLessThan(Infinity);
  }, 20_000);

  // Found by this suite: the stream handed the upgrade to the ledger without the 5 s bound of every
  // other ledger call, so it answered 500 with the ledger down and nothing while it hung.
  it("revocation stream with the ledger unreachable: 503 revocations_unavailable within 5 s", async () => {
    const ledger = new FlakyLedger();
    const e = edgeEnv(await world(), { REVOCATION_LEDGER: ledger.binding() });
    const upgrade = { headers: { ...ADMIN, Upgrade: "websocket" } };
    ledger.mode = "down";
    const down = await timed(e, "/.auth/revocations/stream", upgrade);
    ledger.mode = "hang";
    const hung = await Promise.race([
      timed(e, "/.auth/revocations/stream", upgrade),
      sleep(LEDGER_TIMEOUT_MS + SLACK_MS).then(() => null),
    ]);
    console.log(
      `faults: stream with the ledger down/hanging 2 injected: ${down.res.status} ${down.code} / ${hung ? hung.res.status : "no answer"} within ${LEDGER_TIMEOUT_MS + SLACK_MS} ms`,
    );
    expect.soft([down.res.status, down.code]).toEqual([503, "revocations_unavailable"]);
    expect(hung?.code).toBe("revocations_unavailable");
  }, 20_000);
});

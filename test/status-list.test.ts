// Token Status List (draft-ietf-oauth-status-list) as a relying party: list tokens made by
// @sd-jwt/jwt-status-list, read by the authorizer; validation, caching, limits and outages.
import { reset } from "cloudflare:test";
import { StatusList } from "@sd-jwt/jwt-status-list";
import { afterEach, describe, expect, it, vi } from "vitest";
import { entriesOf, inflateList, statusAt } from "../src/status-list/list";
import { StatusLists } from "../src/status-list/lists";
import { listRulesOf } from "../src/status-list/reference";
import { bearer, freezeClock, problemOf, send, world, type World } from "./helpers/app";
import { listToken, serveList } from "./helpers/status-list";

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await reset();
});

const POLICY = { routes: [{ path: "/skip/*", revocation: "skip" }] };

/** A world whose issuer publishes status lists, one list at /lists/1 holding `statuses`. */
async function listWorld(statuses: number[], opts: Parameters<typeof listToken>[3] = {}, statusLists: unknown = true) {
  const w = await world({ POLICY });
  const env = { ...w.env, ISSUERS: [{ ...(w.env.ISSUERS as unknown as object[])[0], statusLists }] } as unknown as Env;
  const uri = `${w.idp.issuer}/lists/1`;
  let current = { statuses, opts };
  const served = serveList(w.net, uri, () => listToken(w.idp, uri, current.statuses, current.opts));
  const tokenAt = (idx: number, ref: unknown = { idx, uri }) => w.idp.sign({ status: { status_list: ref } });
  const call = async (idx: number, path = "/x") => send(env, path, bearer(await tokenAt(idx)));
  const publish = (next: number[], nextOpts = opts) => (current = { statuses: next, opts: nextOpts });
  return { ...w, env, uri, served, tokenAt, call, publish };
}

async function codeOf(res: Response): Promise<string> {
  return (await problemOf(res)).code as string;
}

describe("a token with a status list reference", () => {
  it("passes when VALID, is revoked when INVALID, suspended when SUSPENDED, and passes again when lifted", async () => {
    const clock = freezeClock();
    const w = await listWorld([0, 1, 2, 0], { bits: 2 });
    expect((await w.call(0)).status).toBe(200);
    expect(await codeOf(await w.call(1))).toBe("token_revoked");
    const suspended = await w.call(2);
    expect(suspended.status).toBe(401);
    expect(suspended.headers.get("WWW-Authenticate")).toMatch(/error="invalid_token"/);
    expect(await codeOf(suspended)).toBe("token_suspended");
    expect(w.served.fetches).toBe(1);
    expect(w.served.accept[0]).toBe("application/statuslist+jwt");
    // The issuer lifts the suspension; the list's ttl (300 s) passes.
    w.publish([0, 1, 0, 0], { bits: 2 });
    clock.advance(301);
    expect((await w.call(2)).status).toBe(200);
    expect(w.served.fetches).toBe(2);
  });

  it("reads 1-, 2-, 4- and 8-bit lists as the other implementation wrote them", async () => {
    for (const bits of [1, 2, 4, 8] as const) {
      const max = (1 << bits) - 1;
      const statuses = Array.from({ length: 37 }, (_, i) => (i * 7) % (max + 1));
      const uri = "https://status.test/l";
      const token = await listToken((await world()).idp, uri, statuses, { bits });
      const lst = (
        JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as {
          status_list: { lst: string };
        }
      ).status_list.lst;
      const list = await inflateList(bits, lst, 1 << 20);
      const theirs = StatusList.decompressStatusList(lst, bits);
      for (let i = 0; i < statuses.length; i++) {
        expect(statusAt(list, i), `${bits} bits, index ${i}`).toBe(statuses[i]);
        expect(statusAt(list, i)).toBe(theirs.getStatus(i));
      }
      expect(entriesOf(list)).toBeGreaterThanOrEqual(statuses.length);
    }
  });

  it("refuses an index outside the list and a status value it does not know", async () => {
    const w = await listWorld([0, 3, 0, 0, 0, 0, 0, 0], { bits: 8 });
    expect(await codeOf(await w.call(8))).toBe("token_status_invalid");
    expect(await codeOf(await w.call(1))).toBe("token_status_invalid");
    expect((await w.call(7)).status).toBe(200);
  });

  it("refuses a reference that cannot be used, on a host the issuer may not use or not https", async () => {
    const w = await listWorld([0]);
    for (const ref of [
      { idx: -1, uri: w.uri },
      { idx: 1.5, uri: w.uri },
      { idx: 0 },
      { idx: 0, uri: 7 },
      { idx: 0, uri: "https://elsewhere.test/lists/1" },
      { idx: 0, uri: w.uri.replace("https:", "http:") },
      { idx: 0, uri: "not a url" },
    ]) {
      const res = await send(w.env, "/x", bearer(await w.tokenAt(0, ref)));
      expect(await codeOf(res), JSON.stringify(ref)).toBe("token_status_invalid");
    }
    expect(w.net.fetched.some((u) => u.includes("elsewhere"))).toBe(false);
  });

  it("takes a list from another host when statusLists.hosts names it", async () => {
    const w = await listWorld([0], {}, { hosts: ["lists.example"] });
    const uri = "https://lists.example/l/9";
    serveList(w.net, uri, () => listToken(w.idp, uri, [1, 0]));
    expect(await codeOf(await send(w.env, "/x", bearer(await w.tokenAt(0, { idx: 0, uri }))))).toBe("token_revoked");
    expect((await send(w.env, "/x", bearer(await w.tokenAt(1, { idx: 1, uri })))).status).toBe(200);
    // Now the issuer's own host is not on the list.
    expect(await codeOf(await w.call(0))).toBe("token_status_invalid");
  });

  it("is not checked on revocation: skip routes, nor for an issuer without statusLists", async () => {
    const w = await listWorld([1]);
    w.served.down = true;
    expect((await w.call(0, "/skip/x")).status).toBe(200);
    const plain = await world();
    const token = await plain.idp.sign({ status: { status_list: { idx: 0, uri: `${plain.idp.issuer}/l` } } });
    expect((await send(plain.env, "/x", bearer(token))).status).toBe(200);
    expect(plain.net.fetched.some((u) => u.endsWith("/l"))).toBe(false);
  });
});

describe("the list token", () => {
  const broken: [string, Parameters<typeof listToken>[3]][] = [
    ["typ JWT", { header: { typ: "JWT" } }],
    ["no typ", { header: { typ: undefined } }],
    ["a sub other than its uri", { claims: { sub: "https://other.test/lists/1" } }],
    ["no sub", { claims: { sub: null } }],
    ["expired", { claims: { exp: 1000 } }],
    ["no iat", { claims: { iat: null } }],
    ["another issuer named", { claims: { iss: "https://someone-else.test" } }],
    ["bits 3", { claims: { status_list: { bits: 3, lst: "eNrbuRgAAhcBXQ" } } }],
    ["lst not ZLIB", { claims: { status_list: { bits: 1, lst: "bm90IHpsaWI" } } }],
  ];

  it("is refused, and the request answered 503 with Retry-After, never a pass, when it does not hold", async () => {
    for (const [what, opts] of broken) {
      const w = await listWorld([0], opts);
      const res = await w.call(0);
      expect(res.status, what).toBe(503);
      expect(res.headers.get("Retry-After"), what).not.toBeNull();
      expect(await codeOf(res), what).toBe("status_list_unavailable");
      expect(w.net.originRequests, what).toHaveLength(0);
    }
  });

  it("is refused when another key signed it, and health says why", async () => {
    const w = await listWorld([0]);
    const stranger = w.net.issuer("https://stranger.test");
    await stranger.addKey("ES256", w.idp.keys[0]!.kid); // same kid, another key
    w.publish([0], { signer: stranger });
    expect((await w.call(0)).status).toBe(503);
    const health = (await (await send(w.env, "/.auth/health")).json()) as {
      statusLists: { uri: string; lastError: string }[];
    };
    expect(health.statusLists.find((l) => l.uri === w.uri)!.lastError).toMatch(/signature/);
  });
});

describe("caching and outages", () => {
  it("keeps a list for its ttl within the issuer's bounds, one fetch for many requests", async () => {
    const clock = freezeClock();
    const w = await listWorld([0], { claims: { ttl: 1 } }, { minTtlSeconds: 60, maxTtlSeconds: 120 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => w.call(0, `/x${i}`)));
    expect(w.served.fetches).toBe(1);
    clock.advance(30);
    expect((await w.call(0)).status).toBe(200);
    expect(w.served.fetches).toBe(1); // ttl 1 s, held for the 60 s minimum
    clock.advance(31);
    expect((await w.call(0)).status).toBe(200);
    expect(w.served.fetches).toBe(2);
    w.publish([0], { claims: { ttl: 86_400 } });
    clock.advance(61);
    await w.call(0);
    const fetches = w.served.fetches;
    clock.advance(121); // a day asked for, 120 s the most allowed
    await w.call(0);
    expect(w.served.fetches).toBe(fetches + 1);
  });

  it("refreshes a list ahead of its expiry, in the background, so requests do not wait for the fetch", async () => {
    const clock = freezeClock();
    const w = await listWorld([0, 0]); // ttl 300 s
    expect((await w.call(0)).status).toBe(200);
    w.publish([0, 1]);
    clock.advance(250); // past four fifths of the ttl: this request answers from the held copy, and refreshes
    expect((await w.call(1)).status).toBe(200);
    expect(w.served.fetches).toBe(2);
    expect(await codeOf(await w.call(1))).toBe("token_revoked");
  });

  it("serves a held copy while the list's host is down, within the stale bound, then 503", async () => {
    const clock = freezeClock();
    const w = await listWorld([0, 1]);
    expect((await w.call(0)).status).toBe(200);
    w.served.down = true;
    clock.advance(301); // past the ttl: refetch fails, the held copy still answers
    expect((await w.call(0)).status).toBe(200);
    expect(await codeOf(await w.call(1))).toBe("token_revoked");
    clock.advance(900);
    const res = await w.call(0);
    expect(res.status).toBe(503);
    expect(await codeOf(res)).toBe("status_list_unavailable");
  });

  it("answers 503 when the list was never had", async () => {
    const w = await listWorld([0]);
    w.served.down = true;
    const res = await w.call(0);
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("5");
  });

  it("lets another isolate of the location load the list from the Cache API, without a fetch", async () => {
    const w = await listWorld([0, 1]);
    expect((await w.call(0)).status).toBe(200);
    const issuer = (w.env.ISSUERS as unknown as Parameters<StatusLists["listFor"]>[1][])[0]!;
    const parsedIssuer = { ...issuer, algorithms: ["ES256" as const], dpopAlgorithms: ["ES256" as const] };
    const cold = new StatusLists();
    const list = await cold.listFor(w.uri, parsedIssuer, listRulesOf(parsedIssuer)!, 30);
    expect(statusAt(list, 1)).toBe(1);
    expect(w.served.fetches).toBe(1);
  });

  it("follows a redirect on the issuer's hosts only", async () => {
    const w = await listWorld([0]);
    // The list moved: its uri (and the list token's sub) stays, the bytes come from the new place.
    const moved = `${w.idp.issuer}/lists/moved`;
    w.net.served.set(moved, () => new Response(null, { status: 302, headers: { Location: "/lists/now-here" } }));
    serveList(w.net, `${w.idp.issuer}/lists/now-here`, () => listToken(w.idp, moved, [0, 1]));
    const at = async (idx: number) =>
      send(w.env, "/x", bearer(await w.idp.sign({ status: { status_list: { idx, uri: moved } } })));
    expect((await at(0)).status).toBe(200);
    expect(await codeOf(await at(1))).toBe("token_revoked");
    const away = `${w.idp.issuer}/lists/away`;
    w.net.served.set(away, () => new Response(null, { status: 302, headers: { Location: "https://evil.test/l" } }));
    const toAway = await w.idp.sign({ status: { status_list: { idx: 0, uri: away } } });
    expect((await send(w.env, "/x", bearer(toAway))).status).toBe(503);
    expect(w.net.fetched.some((u) => u.startsWith("https://evil.test"))).toBe(false);
  });
});

describe("limits", () => {
  it("holds a 1 000 000-entry list in 125 000 bytes, and refuses one that inflates past the bound", async () => {
    const statuses = new Array<number>(1_000_000).fill(0);
    statuses[999_999] = 1;
    const w = await listWorld(statuses);
    expect((await w.call(999_998)).status).toBe(200);
    expect(await codeOf(await w.call(999_999))).toBe("token_revoked");
    const health = (await (await send(w.env, "/.auth/health")).json()) as {
      statusLists: { uri: string; bytes: number; entries: number }[];
    };
    expect(health.statusLists.find((l) => l.uri === w.uri)).toMatchObject({ bytes: 125_000, entries: 1_000_000 });
    // 9 MiB of zeros compresses to a few KiB: a bomb for an 8 MiB bound.
    const bomb = await listWorld(new Array<number>(9 * 1024 * 1024).fill(0), { bits: 8 });
    const res = await bomb.call(0);
    expect(res.status).toBe(503);
  }, 60_000);
});

// The identity provider's own words: back-channel logout tokens and Security Event Tokens, each
// validation rule, what each revokes, and their OAuth / RFC 8935 error bodies.
import { reset } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../src/crypto";
import { ledgerOf } from "../src/revocation/ledger";
import { BACKCHANNEL_LOGOUT_EVENT } from "../src/token/event-token";
import { signingInput } from "../src/token/verify";
import {
  CAEP_CREDENTIAL_CHANGE,
  CAEP_SESSION_REVOKED,
  RISC_ACCOUNT_DISABLED,
  RISC_ACCOUNT_PURGED,
  RISC_CREDENTIAL_COMPROMISE,
  RISC_SESSIONS_REVOKED,
} from "../src/revocation/security-events";
import { bearer, freezeClock, makeEnv, send, world, type World } from "./helpers/app";

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await reset();
});

const RP = "rp-1";
const ADMIN = { Authorization: "Bearer test-admin-token-0001" };
const LOGOUT_TYP = { header: { typ: "logout+jwt" } };
const SET_TYP = { header: { typ: "secevent+jwt" } };
const logoutEvent = { [BACKCHANNEL_LOGOUT_EVENT]: {} };

/** A world whose issuer may send logout tokens and SETs addressed to RP; every route is strict. */
async function idpWorld(): Promise<World> {
  const w = await world();
  const env = makeEnv({
    ISSUERS: [{ issuer: w.idp.issuer, jwksUri: w.idp.jwksUri, audiences: ["api"], logoutAudiences: [RP] }],
    POLICY: { routes: [{ path: "/*", revocation: "strict" }] },
  });
  return { ...w, env };
}

/** The token with another last character that decodes to the same 64 signature bytes (ES256). */
function spareBitsSet(token: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = alphabet.indexOf(token.at(-1)!);
  return token.slice(0, -1) + alphabet[last ^ 1];
}

/** An event token: no exp, no access-token claims, unless `claims` says so (null deletes). */
function eventToken(
  w: World,
  claims: Record<string, unknown>,
  opts: { kid?: string; header?: Record<string, unknown> } = LOGOUT_TYP,
): Promise<string> {
  return w.idp.sign({ aud: RP, exp: null, scope: null, ...claims }, opts);
}

function postLogout(env: Env, token: string): Promise<Response> {
  return send(env, "/.auth/backchannel-logout", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ logout_token: token }).toString(),
  });
}

function postSet(env: Env, token: string, type = "application/secevent+jwt"): Promise<Response> {
  return send(env, "/.auth/events", { method: "POST", headers: { "Content-Type": type }, body: token });
}

async function feed(env: Env) {
  const body = (await (await send(env, "/.auth/revocations", { headers: ADMIN })).json()) as {
    events: { revocation: { kind: string; value: string; iss: string } }[];
  };
  return body.events.map((e) => e.revocation);
}

async function refusal(res: Response, status = 400): Promise<Record<string, string>> {
  expect(res.status).toBe(status);
  expect(res.headers.get("Content-Type")).toBe("application/json");
  expect(res.headers.get("Cache-Control")).toBe("no-store");
  return (await res.json()) as Record<string, string>;
}

describe("POST /.auth/backchannel-logout", () => {
  it("revokes the token's session: that session's access tokens are denied, another session passes", async () => {
    const w = await idpWorld();
    const s1 = await w.idp.sign({ sub: "alice", sid: "s-1" });
    const s2 = await w.idp.sign({ sub: "alice", sid: "s-2" });
    expect((await send(w.env, "/x", bearer(s1))).status).toBe(200);
    const res = await postLogout(w.env, await eventToken(w, { sub: "alice", sid: "s-1", events: logoutEvent }));
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    expect((await send(w.env, "/x", bearer(s1))).status).toBe(401);
    expect((await send(w.env, "/x", bearer(s2))).status).toBe(200);
    expect(await feed(w.env)).toEqual([expect.objectContaining({ kind: "sid", value: "s-1", iss: w.idp.issuer })]);
  });

  it("revokes the subject when the token names no session", async () => {
    const w = await idpWorld();
    expect((await postLogout(w.env, await eventToken(w, { sub: "bob", sid: null, events: logoutEvent }))).status).toBe(
      200,
    );
    expect(await feed(w.env)).toEqual([expect.objectContaining({ kind: "sub", value: "bob" })]);
    expect(
      (await send(w.env, "/x", bearer(await w.idp.sign({ sub: "bob", iat: Math.floor(Date.now() / 1000) - 5 }))))
        .status,
    ).toBe(401);
  });

  it("refuses, with an OAuth error body and nothing revoked, every token that breaks a rule", async () => {
    const w = await idpWorld();
    await w.idp.addKey("ES256", "not-published", false);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<string>][] = [
      ["without the event", eventToken(w, { sid: "s", events: { "https://example.com/other": {} } })],
      ["without events", eventToken(w, { sid: "s" })],
      ["with a nonce", eventToken(w, { sid: "s", nonce: "n", events: logoutEvent })],
      ["for another audience", eventToken(w, { aud: "api", sid: "s", events: logoutEvent })],
      [
        "signed by a key the issuer does not publish",
        eventToken(w, { sid: "s", events: logoutEvent }, { ...LOGOUT_TYP, kid: "not-published" }),
      ],
      ["without sub or sid", eventToken(w, { sub: null, sid: null, events: logoutEvent })],
      ["without jti", eventToken(w, { jti: null, sid: "s", events: logoutEvent })],
      ["issued ten minutes ago", eventToken(w, { iat: now - 600, sid: "s", events: logoutEvent })],
      ["an access token", w.idp.sign({ sid: "s" })],
      ["an access token for the logout audience", w.idp.sign({ aud: RP, sid: "s" })],
      ["a SET", eventToken(w, { sid: "s", events: logoutEvent }, SET_TYP)],
      ["not a JWT", Promise.resolve("not.a.jwt")],
    ];
    for (const [why, token] of cases) {
      const body = await refusal(await postLogout(w.env, await token));
      expect(body.error, why).toBe("invalid_request");
      expect(typeof body.error_description, why).toBe("string");
    }
    expect(await feed(w.env)).toEqual([]);
  });

  it("refuses a replayed jti", async () => {
    const w = await idpWorld();
    const token = await eventToken(w, { sid: "s-9", events: logoutEvent });
    expect((await postLogout(w.env, token)).status).toBe(200);
    expect((await refusal(await postLogout(w.env, token))).error_description).toMatch(/delivered before/);
    const sameJti = await eventToken(w, {
      jti: JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))).jti,
      sid: "s-10",
      events: logoutEvent,
    });
    expect((await postLogout(w.env, sameJti)).status).toBe(400);
    expect(await feed(w.env)).toHaveLength(1);
  });

  it("wants a form with one logout_token, from an issuer configured for it", async () => {
    const w = await idpWorld();
    const token = await eventToken(w, { sid: "s", events: logoutEvent });
    const asJson = await send(w.env, "/.auth/backchannel-logout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ logout_token: token }),
    });
    await refusal(asJson);
    const twice = await send(w.env, "/.auth/backchannel-logout", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: `logout_token=${token}&logout_token=${token}`,
    });
    await refusal(twice);
    const plain = await world(); // its issuer has no logoutAudiences
    expect(
      (await refusal(await postLogout(plain.env, await eventToken(plain, { sid: "s", events: logoutEvent })))).error,
    ).toBe("invalid_request");
  });

  it("is never accepted as an access token", async () => {
    const w = await idpWorld();
    const env = makeEnv({
      ISSUERS: [{ issuer: w.idp.issuer, jwksUri: w.idp.jwksUri, audiences: [RP], logoutAudiences: [RP] }],
    });
    const res = await send(env, "/x", bearer(await w.idp.sign({ aud: RP, sid: "s", events: logoutEvent }, LOGOUT_TYP)));
    expect(res.status).toBe(401);
  });

  it("answers 503 with Retry-After when the issuer's keys cannot be had, so the provider retries", async () => {
    const w = await idpWorld();
    const token = await eventToken(w, { sid: "s", events: logoutEvent });
    w.idp.mode = "down";
    const res = await postLogout(w.env, token);
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("5");
    expect(((await res.json()) as { error: string }).error).toBe("temporarily_unavailable");
  });
});

describe("POST /.auth/events", () => {
  it("CAEP session-revoked revokes the session; RISC account-disabled and credential-compromise the subject", async () => {
    const w = await idpWorld();
    const iss = w.idp.issuer;
    const sets = [
      {
        events: { [CAEP_SESSION_REVOKED]: {} },
        sub_id: {
          format: "complex",
          session: { format: "opaque", id: "s-7" },
          user: { format: "iss_sub", iss, sub: "carol" },
        },
      },
      { events: { [RISC_ACCOUNT_DISABLED]: { subject: { format: "iss_sub", iss, sub: "dave" } } } },
      {
        events: { [RISC_CREDENTIAL_COMPROMISE]: { credential_type: "password" } },
        sub_id: { format: "opaque", id: "erin" },
      },
      { events: { [CAEP_SESSION_REVOKED]: {} }, sub_id: { format: "iss_sub", iss, sub: "frank" } },
    ];
    // Issued before the events: a session revocation denies the tokens issued up to its second, and
    // on a loaded machine the posts below can take past the next one.
    const revokedSession = await w.idp.sign({ sub: "carol", sid: "s-7" });
    const otherSession = await w.idp.sign({ sub: "carol", sid: "s-8" });
    for (const claims of sets) {
      const res = await postSet(w.env, await eventToken(w, { sub: null, ...claims }, SET_TYP));
      expect(res.status).toBe(202);
    }
    expect((await feed(w.env)).map((r) => `${r.kind}:${r.value}`)).toEqual([
      "sid:s-7",
      "sub:dave",
      "sub:erin",
      "sub:frank",
    ]);
    expect((await send(w.env, "/x", bearer(revokedSession))).status).toBe(401);
    expect((await send(w.env, "/x", bearer(otherSession))).status).toBe(200);
  });

  it("CAEP credential-change and RISC account-purged / sessions-revoked revoke the user; email and jwt_id subjects", async () => {
    const w = await idpWorld();
    const call = async (claims: Record<string, unknown>) =>
      (await send(w.env, "/x", bearer(await w.idp.sign(claims)))).status;
    const users = ["hana", "ivan", "jo"];
    const types = [CAEP_CREDENTIAL_CHANGE, RISC_ACCOUNT_PURGED, RISC_SESSIONS_REVOKED];
    for (const sub of users) expect(await call({ sub })).toBe(200);
    for (const [i, type] of types.entries()) {
      const set = await eventToken(
        w,
        { events: { [type]: {} }, sub_id: { format: "iss_sub", iss: w.idp.issuer, sub: users[i] } },
        SET_TYP,
      );
      expect((await postSet(w.env, set)).status, type).toBe(202);
    }
    for (const sub of users) expect(await call({ sub }), sub).toBe(401);
    // An email subject: every token whose email claim is that address, in any case; not another address.
    const byEmail = await eventToken(
      w,
      { events: { [RISC_ACCOUNT_DISABLED]: {} }, sub_id: { format: "email", email: "Kim@Example.test" } },
      SET_TYP,
    );
    expect((await postSet(w.env, byEmail)).status).toBe(202);
    expect(await call({ sub: "kim", email: "kim@example.TEST" })).toBe(401);
    expect(await call({ sub: "kim-2", email: "other@example.test" })).toBe(200);
    // The edge's view (an eventual route) matches an email entry too.
    const eventual = { ...w.env, POLICY: { routes: [] } } as Env;
    const kims = bearer(await w.idp.sign({ sub: "kim-3", email: "KIM@example.test" }));
    expect((await send(eventual, "/x", kims)).status).toBe(401);
    // A jwt_id subject: that one token.
    const byJti = await eventToken(
      w,
      { events: { [CAEP_SESSION_REVOKED]: {} }, sub_id: { format: "jwt_id", iss: w.idp.issuer, jti: "t-1" } },
      SET_TYP,
    );
    expect((await postSet(w.env, byJti)).status).toBe(202);
    expect(await call({ sub: "lee", jti: "t-1" })).toBe(401);
    expect(await call({ sub: "lee", jti: "t-2" })).toBe(200);
    expect((await feed(w.env)).map((r) => r.kind)).toEqual(["sub", "sub", "sub", "email", "jti"]);
    expect((await feed(w.env))[3]!.value).toBe("kim@example.test");
  });

  it("reads the older subject forms transmitters still send: Google's subject_type, Okta's complex without format", async () => {
    const w = await idpWorld();
    const google = await eventToken(
      w,
      { events: { [RISC_ACCOUNT_DISABLED]: { subject: { subject_type: "iss-sub", iss: w.idp.issuer, sub: "gus" } } } },
      SET_TYP,
    );
    const okta = await eventToken(
      w,
      {
        events: {
          [CAEP_SESSION_REVOKED]: {
            subject: {
              user: { format: "iss_sub", iss: w.idp.issuer, sub: "ola" },
              session: { format: "opaque", id: "s-77" },
            },
          },
        },
      },
      SET_TYP,
    );
    for (const set of [google, okta]) expect((await postSet(w.env, set)).status).toBe(202);
    expect((await feed(w.env)).map((r) => `${r.kind} ${r.value}`)).toEqual(["sub gus", "sid s-77"]);
  });

  it("acknowledges and counts an event type it does not act on, revoking nothing", async () => {
    const w = await idpWorld();
    const res = await postSet(
      w.env,
      await eventToken(
        w,
        { events: { "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {} } },
        SET_TYP,
      ),
    );
    expect(res.status).toBe(202);
    expect(await feed(w.env)).toEqual([]);
    const health = (await (await send(w.env, "/.auth/health")).json()) as { events: Record<string, number> };
    expect(health.events).toMatchObject({ securityEvents: 1, ignoredEvents: 1 });
  });

  it("answers RFC 8935 errors", async () => {
    const w = await idpWorld();
    await w.idp.addKey("ES256", "not-published", false);
    const ok = { events: { [RISC_ACCOUNT_DISABLED]: {} }, sub: "gina" };
    const good = await eventToken(w, ok, SET_TYP);
    const tampered = good.slice(0, -3) + (good.at(-3) === "A" ? "B" : "A") + good.slice(-2);
    const cases: [string, Promise<string>, string][] = [
      ["wrong audience", eventToken(w, { ...ok, aud: "api" }, SET_TYP), "invalid_audience"],
      ["unknown key", eventToken(w, ok, { ...SET_TYP, kid: "not-published" }), "invalid_key"],
      ["bad signature", Promise.resolve(tampered), "authentication_failed"],
      ["unknown issuer", eventToken(w, { ...ok, iss: "https://elsewhere.test" }, SET_TYP), "invalid_issuer"],
      ["a logout token", eventToken(w, { sid: "s", events: logoutEvent }, LOGOUT_TYP), "invalid_request"],
      [
        "a phone_number subject",
        eventToken(w, { ...ok, sub_id: { format: "phone_number", phone_number: "+12065550100" } }, SET_TYP),
        "invalid_request",
      ],
      [
        "another issuer's token",
        eventToken(w, { ...ok, sub_id: { format: "jwt_id", iss: "https://other-idp.test", jti: "t" } }, SET_TYP),
        "invalid_request",
      ],
      // Regression: the revocation took its issuer from the subject, so a transmitter revoked another issuer's users.
      [
        "another issuer's user",
        eventToken(w, { ...ok, sub_id: { format: "iss_sub", iss: "https://other-idp.test", sub: "gina" } }, SET_TYP),
        "invalid_request",
      ],
      [
        "another issuer's session",
        eventToken(
          w,
          {
            events: { [CAEP_SESSION_REVOKED]: {} },
            sub_id: { format: "complex", session: { format: "iss_sub", iss: "https://other-idp.test", sub: "s-1" } },
          },
          SET_TYP,
        ),
        "invalid_request",
      ],
      ["the same signature with its spare base64url bits set", Promise.resolve(spareBitsSet(good)), "invalid_request"],
    ];
    for (const [why, token, err] of cases)
      expect((await refusal(await postSet(w.env, await token))).err, why).toBe(err);
    expect((await refusal(await postSet(w.env, good, "application/jwt"))).err).toBe("invalid_request");
    expect((await postSet(w.env, good)).status).toBe(202);
    expect((await refusal(await postSet(w.env, good))).err).toBe("invalid_request"); // replayed
    expect(await feed(w.env)).toHaveLength(1);
  });

  it("completes a SET whose first event landed before a failure, and refuses it once all have", async () => {
    const w = await idpWorld();
    const jti = "two-events";
    const token = await eventToken(
      w,
      {
        jti,
        sub_id: {
          format: "complex",
          session: { format: "opaque", id: "s-1" },
          user: { format: "iss_sub", iss: w.idp.issuer, sub: "ivy" },
        },
        events: { [CAEP_SESSION_REVOKED]: {}, [RISC_ACCOUNT_DISABLED]: {} },
      },
      SET_TYP,
    );
    // As if an earlier delivery recorded the first event, then the ledger timed out before the second.
    const now = Math.floor(Date.now() / 1000);
    const first = { kind: "sid" as const, value: "s-1", iss: w.idp.issuer, at: now, expiresAt: now + 86400 };
    const fingerprint = await sha256Hex(signingInput(token)); // what the route fingerprints a delivery by
    expect(
      (await ledgerOf(w.env).revokeOnce(first, { key: `secevent:${w.idp.issuer} ${jti}`, fingerprint })).outcome,
    ).toBe("answered");
    expect((await postSet(w.env, token)).status).toBe(202);
    expect((await feed(w.env)).map((r) => `${r.kind}:${r.value}`)).toEqual(["sid:s-1", "sub:ivy"]);
    expect((await refusal(await postSet(w.env, token))).err).toBe("invalid_request");
  });

  it("refuses another SET with a used jti before it records anything, even with more events (found by a property test)", async () => {
    const w = await idpWorld();
    const jti = "used-once";
    expect(
      (await postSet(w.env, await eventToken(w, { jti, events: { [RISC_ACCOUNT_DISABLED]: {} }, sub: "jay" }, SET_TYP)))
        .status,
    ).toBe(202);
    const other = await eventToken(
      w,
      {
        jti,
        sub: "kim",
        events: { [RISC_ACCOUNT_DISABLED]: {}, [CAEP_SESSION_REVOKED]: { subject: { format: "opaque", id: "s-3" } } },
      },
      SET_TYP,
    );
    expect((await refusal(await postSet(w.env, other))).err).toBe("invalid_request");
    expect((await feed(w.env)).map((r) => `${r.kind}:${r.value}`)).toEqual(["sub:jay"]);
  });

  it("refuses a SET older than five minutes", async () => {
    const clock = freezeClock();
    const w = await idpWorld();
    const token = await eventToken(w, { events: { [RISC_ACCOUNT_DISABLED]: {} }, sub: "hank" }, SET_TYP);
    clock.advance(301 + 30);
    expect((await refusal(await postSet(w.env, token))).err).toBe("invalid_request");
  });
});

// OpenID Connect Back-Channel Logout with a real OpenID Provider (oidc-provider) under `wrangler dev`:
// a user logs in twice through a scripted authorization-code flow (two sessions, two JWT access
// tokens with their own `sid`), logs out of one at the provider (RP-initiated logout), the provider
// posts its logout token to /.auth/backchannel-logout, and that session's token is denied within
// REVOCATION_MAX_STALENESS_SECONDS while the other session's token still passes.
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizeAtProvider, CookieJar, logoutAtProvider } from "./browser";
import { freePort, startOidcProvider, startStack, stop, type Proc, type Stack } from "./harness";

const STALENESS_SECONDS = 2;
const AUDIENCE = "demo-api";
const CLIENT_ID = "demo-rp";
const CLIENT_SECRET = "demo-rp-secret-0123456789abcdef"; // as in oidc-provider.mjs
const RESOURCE = "urn:edge-authorizer:e2e-api"; // as in oidc-provider.mjs
const REDIRECT_URI = "http://127.0.0.1:1/cb"; // never served: the flow reads the Location header

let op: Proc | undefined;
let opUrl: string;
let stack: Stack;
beforeAll(async () => {
  const [opPort, gatewayPort] = [await freePort(), await freePort()];
  opUrl = `http://127.0.0.1:${opPort}`;
  op = await startOidcProvider(opPort, gatewayPort, ["--audience", AUDIENCE, "--redirect-uri", REDIRECT_URI]);
  try {
    stack = await startStack(
      {
        ISSUERS: JSON.stringify([{ issuer: opUrl, audiences: [AUDIENCE], logoutAudiences: [CLIENT_ID] }]),
        REVOCATION_MAX_STALENESS_SECONDS: String(STALENESS_SECONDS),
        POLICY: JSON.stringify({ routes: [{ path: "/strict/*", revocation: "strict" }] }),
      },
      { gatewayPort },
    );
  } catch (e) {
    await stop(op);
    throw e;
  }
});
afterAll(async () => {
  await stack?.stop();
  await stop(op);
});

const b64url = (b: Buffer) => b.toString("base64url");
const claimsOf = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString());

interface Login {
  jar: CookieJar;
  accessToken: string;
  idToken: string;
  sid: string;
}

/** The authorization-code flow with PKCE, in a fresh cookie jar (a new browser, so a new session). */
async function login(account: string): Promise<Login> {
  const jar = new CookieJar();
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const auth = new URL(`${opUrl}/auth`);
  for (const [k, v] of Object.entries({
    client_id: CLIENT_ID,
    response_type: "code",
    scope: "openid api:read",
    redirect_uri: REDIRECT_URI,
    resource: RESOURCE,
    code_challenge: b64url(createHash("sha256").update(verifier).digest()),
    code_challenge_method: "S256",
    state,
    nonce: b64url(randomBytes(16)),
    login_hint: account,
  }))
    auth.searchParams.set(k, v);

  const callback = await authorizeAtProvider(jar, auth.href, REDIRECT_URI);
  expect(callback.searchParams.get("error"), callback.searchParams.get("error_description") ?? "").toBeNull();
  expect(callback.searchParams.get("state")).toBe(state);
  const code = callback.searchParams.get("code");
  if (!code) throw new Error(`no code in ${callback.href}`);

  const res = await fetch(`${opUrl}/token`, {
    method: "POST",
    headers: { Authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64")}` },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      resource: RESOURCE,
    }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as {
    access_token?: string;
    id_token?: string;
    error?: string;
    error_description?: string;
  };
  expect(res.status, JSON.stringify(body)).toBe(200);
  const { sid } = claimsOf(body.access_token!) as { sid?: string };
  expect(typeof sid).toBe("string");
  expect((claimsOf(body.id_token!) as { sid?: string }).sid).toBe(sid);
  return { jar, accessToken: body.access_token!, idToken: body.id_token!, sid: sid! };
}

const get = (path: string, t: string) =>
  fetch(`${stack.gateway}${path}`, { headers: { Authorization: `Bearer ${t}` }, signal: AbortSignal.timeout(10_000) });

interface Delivery {
  event: "backchannel.success" | "backchannel.error";
  error?: string;
  sid: string;
  at: number;
  logoutToken?: { header: Record<string, unknown>; payload: Record<string, unknown>; jwt: string };
}
interface BackchannelResponse {
  event: "backchannel.response";
  status: number;
  headers: Record<string, string>;
  body: string;
  at: number;
}
/** What the provider printed about its back-channel deliveries, in order. */
const printed = (): (Delivery | BackchannelResponse)[] =>
  op!
    .output()
    .split("\n")
    .filter((l) => l.startsWith('{"event":"backchannel.'))
    .map((l) => JSON.parse(l) as Delivery | BackchannelResponse);
const deliveries = () => printed().filter((e): e is Delivery => e.event !== "backchannel.response");
const responses = () => printed().filter((e): e is BackchannelResponse => e.event === "backchannel.response");

const postLogoutToken = (logoutToken: string) =>
  fetch(`${stack.gateway}/.auth/backchannel-logout`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ logout_token: logoutToken }),
    signal: AbortSignal.timeout(10_000),
  });

describe("back-channel logout from a real OpenID Provider (oidc-provider) under wrangler dev", () => {
  it("denies the logged-out session's access token within the revocation bound; the user's other session still passes", async () => {
    const s1 = await login("alice");
    const s2 = await login("alice");
    expect(s1.sid).not.toBe(s2.sid);
    expect(claimsOf(s1.accessToken)).toMatchObject({ iss: opUrl, aud: AUDIENCE, sub: "alice" });
    for (const s of [s1, s2]) {
      const res = await get("/x", s.accessToken);
      expect(res.status, await res.clone().text()).toBe(200);
      const echo = (await res.json()) as { headers: Record<string, string> };
      expect(echo.headers["x-auth-session"]).toBe(s.sid);
      expect(echo.headers["x-auth-subject"]).toBe("alice");
    }

    const loggedOutAt = Date.now();
    const confirm = await logoutAtProvider(`${opUrl}/session/end`, s1);
    const confirmMs = Date.now() - loggedOutAt;
    expect(confirm.status).toBe(303); // the provider answers after its back-channel POSTs are done

    // The first denial on an eventual route, polled every 50 ms for at most the bound plus 5 s.
    let firstDenialAt = Infinity;
    for (let i = 0; i < 1000 && Date.now() - loggedOutAt < (STALENESS_SECONDS + 5) * 1000; i++) {
      if ((await get("/x", s1.accessToken)).status === 401) {
        firstDenialAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }

    const sent = deliveries().filter((d) => d.sid === s1.sid);
    expect(sent, op!.output()).toHaveLength(1);
    const delivery = sent[0]!;
    const answers = responses();
    expect(answers, op!.output()).toHaveLength(1);
    const answer = answers[0]!;
    console.log(
      `logout token the provider sent: ${JSON.stringify({ header: delivery.logoutToken?.header, payload: delivery.logoutToken?.payload })}`,
    );
    console.log(
      `the authorizer's answer to the provider: ${JSON.stringify({ status: answer.status, headers: answer.headers, body: answer.body })}`,
    );
    console.log(
      `provider logout (confirm POST) -> first denial on an eventual route: ${firstDenialAt - loggedOutAt} ms ` +
        `(confirm answered after ${confirmMs} ms; authorizer's 200 to the provider -> first denial: ${firstDenialAt - delivery.at} ms; bound ${STALENESS_SECONDS * 1000} ms)`,
    );
    expect(delivery.event, delivery.error).toBe("backchannel.success");
    expect(answer.status).toBe(200);
    expect(answer.headers["cache-control"]).toBe("no-store");
    expect(delivery.logoutToken?.payload).toMatchObject({ iss: opUrl, aud: CLIENT_ID, sub: "alice", sid: s1.sid });
    expect(firstDenialAt - loggedOutAt).toBeLessThanOrEqual(STALENESS_SECONDS * 1000 + 1500); // the bound, plus the provider's own work, one poll and HTTP round trips

    const denied = await get("/x", s1.accessToken);
    expect(denied.status).toBe(401);
    expect(denied.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect((await get("/strict/x", s1.accessToken)).status).toBe(401);
    expect((await get("/x", s2.accessToken)).status).toBe(200);
    expect((await get("/strict/x", s2.accessToken)).status).toBe(200);

    const feed = await fetch(`${stack.gateway}/.auth/revocations?limit=1000`, {
      headers: { Authorization: `Bearer ${stack.adminToken}` },
    });
    expect(feed.status).toBe(200);
    const { events } = (await feed.json()) as {
      events: { seq: number; revocation: { kind: string; value: string; iss: string | null } }[];
    };
    expect(events.map((e) => e.revocation)).toEqual([
      expect.objectContaining({ kind: "sid", value: s1.sid, iss: opUrl }),
    ]);
  });

  it("refuses the provider's logout token a second time, and an access token as a logout token, with 400 { error, error_description }", async () => {
    const s = await login("bob");
    expect((await get("/x", s.accessToken)).status).toBe(200);
    expect((await logoutAtProvider(`${opUrl}/session/end`, s)).status).toBe(303);
    const delivery = deliveries().find((d) => d.sid === s.sid);
    expect(delivery?.event, op!.output()).toBe("backchannel.success");

    for (const [what, token] of [
      ["the same logout token again", delivery!.logoutToken!.jwt],
      ["an access token of the same session", s.accessToken],
    ] as const) {
      const res = await postLogoutToken(token);
      const body = (await res.json()) as { error?: unknown; error_description?: unknown };
      expect(res.status, `${what}: ${JSON.stringify(body)}`).toBe(400);
      expect(typeof body.error, what).toBe("string");
      expect(typeof body.error_description, what).toBe("string");
      console.log(`${what} -> ${res.status} ${JSON.stringify(body)}`);
    }
    const feed = (await (
      await fetch(`${stack.gateway}/.auth/revocations?limit=1000`, {
        headers: { Authorization: `Bearer ${stack.adminToken}` },
      })
    ).json()) as {
      events: { revocation: { kind: string; value: string } }[];
    };
    expect(feed.events.filter((e) => e.revocation.value === s.sid)).toHaveLength(1);
  });
});

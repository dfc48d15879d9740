// DPoP (RFC 9449) end to end, with real parts only: a real OpenID Provider (oidc-provider, started with
// --dpop) issues DPoP-bound JWT access tokens (`cnf.jkt`) to a client that makes its proofs with
// panva's oauth4webapi (its DPoP handle: the token request, nonce retries, every API call), through
// the authorizer under `wrangler dev` in front of the harness's echoing origin. Two stacks: one with
// FORWARD_AUTHORIZATION false and a proofReplay "network" route (the DpopReplay Durable Object),
// one that requires the authorizer's own DPoP nonces (SENDER_CONSTRAINTS.dpop.nonce, DPOP_NONCE_SECRET).
// The provider requires its own nonces at its token endpoint too (--dpop-nonce-secret), so the
// client's login exercises oauth4webapi's nonce retry there as well.
//
// What a proof's htu must equal is the URL the Worker sees (request.url): under `wrangler dev` on
// 127.0.0.1 that is http://127.0.0.1:<port>/<path>, the URL the client used; the test shows it (the
// challenge's realm is the host the Worker sees, and a proof for http://localhost:<port> is refused).
import { randomBytes } from "node:crypto";
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizeAtProvider, CookieJar, logoutAtProvider } from "./browser";
import { freePort, startOidcProvider, startStack, stop, type Proc, type Stack } from "./harness";

const STALENESS_SECONDS = 2;
const AUDIENCE = "demo-api";
const CLIENT_ID = "demo-rp"; // as in oidc-provider.mjs
const CLIENT_SECRET = "demo-rp-secret-0123456789abcdef"; // as in oidc-provider.mjs
const RESOURCE = "urn:edge-authorizer:e2e-api"; // as in oidc-provider.mjs
const REDIRECT_URI = "http://127.0.0.1:1/cb"; // never served: the flow reads the Location header
/** The provider's nonce secret (32 bytes in hex) and the authorizer's (DPOP_NONCE_SECRET, >= 32 characters). */
const OP_NONCE_SECRET = randomBytes(32).toString("hex");
const WORKER_NONCE_SECRET = randomBytes(32).toString("base64url");

/** Every request of oauth4webapi here goes to http://127.0.0.1 (the option is marked deprecated to stand out). */
const insecure = { [oauth.allowInsecureRequests]: true } as const;

let op: Proc | undefined;
let opUrl: string;
/** FORWARD_AUTHORIZATION false; /network/* has proofReplay "network"; the provider's back-channel logout URI. */
let stack: Stack | undefined;
/** SENDER_CONSTRAINTS {"dpop":{"nonce":true}} with DPOP_NONCE_SECRET; FORWARD_AUTHORIZATION true (the default). */
let nonceStack: Stack | undefined;
let as: oauth.AuthorizationServer;
const client: oauth.Client = { client_id: CLIENT_ID, id_token_signed_response_alg: "ES256" };
const clientAuth = oauth.ClientSecretBasic(CLIENT_SECRET);

beforeAll(async () => {
  const [opPort, gatewayPort] = [await freePort(), await freePort()];
  opUrl = `http://127.0.0.1:${opPort}`;
  op = await startOidcProvider(opPort, gatewayPort, [
    "--audience",
    AUDIENCE,
    "--redirect-uri",
    REDIRECT_URI,
    "--dpop",
    "--dpop-nonce-secret",
    OP_NONCE_SECRET,
  ]);
  try {
    as = await oauth.processDiscoveryResponse(
      new URL(opUrl),
      await oauth.discoveryRequest(new URL(opUrl), { algorithm: "oidc", ...insecure }),
    );
    const issuers = JSON.stringify([{ issuer: opUrl, audiences: [AUDIENCE], logoutAudiences: [CLIENT_ID] }]);
    const started = await Promise.allSettled([
      startStack(
        {
          ISSUERS: issuers,
          REVOCATION_MAX_STALENESS_SECONDS: String(STALENESS_SECONDS),
          FORWARD_AUTHORIZATION: "false",
          POLICY: JSON.stringify({ routes: [{ path: "/network/*", proofReplay: "network" }] }),
        },
        { gatewayPort },
      ),
      startStack({
        ISSUERS: issuers,
        REVOCATION_MAX_STALENESS_SECONDS: String(STALENESS_SECONDS),
        SENDER_CONSTRAINTS: JSON.stringify({ dpop: { nonce: true } }),
        // A secret is an env var like any other to the Worker; `wrangler dev` takes it as a --var.
        DPOP_NONCE_SECRET: WORKER_NONCE_SECRET,
      }),
    ]);
    if (started[0].status === "fulfilled") stack = started[0].value;
    if (started[1].status === "fulfilled") nonceStack = started[1].value;
    for (const s of started) if (s.status === "rejected") throw s.reason;
  } catch (e) {
    await Promise.all([stack?.stop(), nonceStack?.stop(), stop(op)]);
    throw e;
  }
});
afterAll(async () => {
  await Promise.all([stack?.stop(), nonceStack?.stop()]);
  await stop(op);
});

const decodePart = (jwt: string, part: 0 | 1): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split(".")[part]!, "base64url").toString());
const claimsOf = (jwt: string) => decodePart(jwt, 1);

/** A client key and oauth4webapi's handle for it (it signs proofs and keeps each server's nonce). */
async function newDpop(): Promise<oauth.DPoPHandle> {
  return oauth.DPoP(client, await oauth.generateKeyPair("ES256"));
}

interface Login {
  jar: CookieJar;
  dpop: oauth.DPoPHandle;
  accessToken: string;
  idToken: string;
  sid: string;
  jkt: string;
  tokenType: string;
  /** How many times the token request was retried with the provider's DPoP nonce. */
  providerNonceRetries: number;
}

/**
 * The authorization-code flow with PKCE, in a fresh cookie jar (a new browser, so a new session),
 * its code bound to the client's DPoP key (dpop_jkt) and its token request made with a proof.
 * oauth4webapi builds and checks everything but the browser's part: following the provider's
 * redirects through its scripted login and consent is the user agent's job, done with `authorizeAtProvider`.
 */
async function login(account: string, dpop?: oauth.DPoPHandle): Promise<Login> {
  dpop ??= await newDpop();
  const jar = new CookieJar();
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const auth = new URL(as.authorization_endpoint!);
  for (const [k, v] of Object.entries({
    client_id: CLIENT_ID,
    response_type: "code",
    scope: "openid api:read",
    redirect_uri: REDIRECT_URI,
    resource: RESOURCE,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
    login_hint: account,
    dpop_jkt: await dpop.calculateThumbprint(),
  }))
    auth.searchParams.set(k, v);

  const callback = await authorizeAtProvider(jar, auth.href, REDIRECT_URI);
  const params = oauth.validateAuthResponse(as, client, callback, state);

  const grant = async () =>
    oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, REDIRECT_URI, verifier, {
        DPoP: dpop,
        additionalParameters: { resource: RESOURCE },
        signal: AbortSignal.timeout(10_000),
        ...insecure,
      }),
      { expectedNonce: nonce, requireIdToken: true },
    );
  let providerNonceRetries = 0;
  let result: oauth.TokenEndpointResponse;
  try {
    result = await grant();
  } catch (e) {
    // The provider requires its nonce (--dpop-nonce-secret): the handle kept the one it sent; once more.
    if (!oauth.isDPoPNonceError(e)) throw e;
    providerNonceRetries++;
    result = await grant();
  }
  const idClaims = oauth.getValidatedIdTokenClaims(result)!;
  const { sid, cnf } = claimsOf(result.access_token) as { sid?: string; cnf?: { jkt?: string } };
  expect(typeof sid).toBe("string");
  expect(idClaims.sid).toBe(sid);
  return {
    jar,
    dpop,
    accessToken: result.access_token,
    idToken: result.id_token!,
    sid: sid!,
    jkt: cnf?.jkt ?? "",
    tokenType: result.token_type,
    providerNonceRetries,
  };
}

/** A request exactly as oauth4webapi sent it, to read its proof or send it again. */
interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
}
interface Call {
  res: Response;
  sent: Sent;
  /** oauth4webapi's parsed WWW-Authenticate challenges, when the answer had one (it throws on them). */
  challenges?: oauth.WWWAuthenticateChallenge[];
  /** The error oauth4webapi threw for a challenge, for isDPoPNonceError. */
  error?: oauth.WWWAuthenticateChallengeError;
}

/**
 * oauth4webapi's protectedResourceRequest: with a DPoP handle, `Authorization: DPoP <token>` and a
 * fresh proof for (method, url); without one, `Authorization: Bearer <token>`. `sendTo` sends the
 * request to another URL than the one the proof names (the client's URL is then not the Worker's).
 */
async function call(
  token: string,
  method: string,
  url: string,
  dpop: oauth.DPoPHandle | undefined,
  sendTo?: string,
): Promise<Call> {
  let sent: Sent | undefined;
  const customFetch = (target: string, init: oauth.CustomFetchOptions<string, oauth.ProtectedResourceRequestBody>) => {
    sent = { url: sendTo ?? target, method: init.method, headers: { ...init.headers } };
    // Every call here is without a body (GET, and POST /.auth/logout).
    return fetch(sent.url, {
      method: init.method,
      headers: init.headers,
      redirect: init.redirect,
      signal: init.signal,
    });
  };
  try {
    const res = await oauth.protectedResourceRequest(token, method, new URL(url), undefined, undefined, {
      ...(dpop ? { DPoP: dpop } : {}),
      [oauth.customFetch]: customFetch,
      signal: AbortSignal.timeout(10_000),
      ...insecure,
    });
    return { res, sent: sent! };
  } catch (e) {
    if (!(e instanceof oauth.WWWAuthenticateChallengeError)) throw e;
    return { res: e.response, sent: sent!, challenges: e.cause, error: e };
  }
}

/** The same request again, byte for byte the same Authorization and DPoP headers. */
const replay = (sent: Sent) =>
  fetch(sent.url, { method: sent.method, headers: sent.headers, signal: AbortSignal.timeout(10_000) });

const proofOf = (sent: Sent) => {
  expect(sent.headers.dpop, "a DPoP header").toBeDefined();
  return { header: decodePart(sent.headers.dpop!, 0), payload: decodePart(sent.headers.dpop!, 1) };
};

interface Echo {
  method: string;
  path: string;
  headers: Record<string, string | undefined>;
}
const echoOf = async (res: Response) => {
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as Echo;
};
const problemOf = async (res: Response) => JSON.parse(await res.text()) as { code: string; detail: string };

/** Calls with a fresh proof every 50 ms until a 401 (at most the bound plus 5 s): the time of the first one. */
async function firstDenial(s: Login, gateway: string, since: number): Promise<{ at: number; call?: Call }> {
  for (let i = 0; i < 1000 && Date.now() - since < (STALENESS_SECONDS + 5) * 1000; i++) {
    const c = await call(s.accessToken, "GET", `${gateway}/api/me`, s.dpop);
    if (c.res.status === 401) return { at: Date.now(), call: c };
    expect(c.res.status, await c.res.text()).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { at: Infinity };
}

interface Delivery {
  event: "backchannel.success" | "backchannel.error";
  error?: string;
  sid: string;
  at: number;
}
/** The provider's verdicts about its back-channel deliveries, in order. */
const deliveries = (): Delivery[] =>
  op!
    .output()
    .split("\n")
    .filter((l) => l.startsWith('{"event":"backchannel.success"') || l.startsWith('{"event":"backchannel.error"'))
    .map((l) => JSON.parse(l) as Delivery);

describe("DPoP-bound tokens from a real OpenID Provider, proofs by oauth4webapi, under wrangler dev", () => {
  it("accepts the provider's DPoP-bound token with its proof; the origin sees the binding and not the credentials", async () => {
    const s = await login("alice");
    expect(s.tokenType).toBe("dpop");
    expect(s.providerNonceRetries).toBe(1); // the provider's nonce, handled by oauth4webapi
    expect(claimsOf(s.accessToken)).toMatchObject({
      iss: opUrl,
      aud: AUDIENCE,
      sub: "alice",
      cnf: { jkt: await s.dpop.calculateThumbprint() },
    });

    const { res, sent } = await call(s.accessToken, "GET", `${stack!.gateway}/api/items?page=2`, s.dpop);
    const echo = await echoOf(res);
    const proof = proofOf(sent);
    expect(sent.headers.authorization).toBe(`DPoP ${s.accessToken}`);
    expect(proof.header).toMatchObject({ typ: "dpop+jwt", alg: "ES256" });
    // The URL the client used, without its query: http://127.0.0.1:<port>/api/items.
    expect(proof.payload).toMatchObject({ htm: "GET", htu: `${stack!.gateway}/api/items` });
    expect(echo.path).toBe("/api/items?page=2");
    expect(echo.headers["x-auth-binding"]).toBe("dpop");
    expect(echo.headers["x-auth-key-thumbprint"]).toBe(s.jkt);
    expect(echo.headers["x-auth-subject"]).toBe("alice");
    expect(echo.headers["x-auth-session"]).toBe(s.sid);
    // FORWARD_AUTHORIZATION false: the token and its proof stay at the edge.
    expect(echo.headers.authorization).toBeUndefined();
    expect(echo.headers.dpop).toBeUndefined();
    console.log(`proof as oauth4webapi made it: ${JSON.stringify(proof)}`);
    console.log(`origin saw: ${JSON.stringify({ path: echo.path, headers: echo.headers })}`);
  });

  it("refuses the token without a proof: as Bearer (invalid_token), as DPoP without a DPoP header, or with another key's proof or another URL's (invalid_dpop_proof)", async () => {
    const s = await login("alice");
    const gateway = stack!.gateway;
    const host = new URL(gateway).host;

    // oauth4webapi without its DPoP handle sends the token as a bearer token.
    const bearer = await call(s.accessToken, "GET", `${gateway}/api/items`, undefined);
    expect(bearer.sent.headers.authorization).toBe(`Bearer ${s.accessToken}`);
    expect(bearer.res.status).toBe(401);
    const bearerChallenge = bearer.res.headers.get("www-authenticate")!;
    expect(bearerChallenge).toMatch(/^DPoP /);
    expect(bearerChallenge).toContain('error="invalid_token"');
    // The realm is the host of the request's URL as the Worker sees it (src/problem.ts realmOf).
    expect(bearerChallenge).toContain(`realm="${host}"`);
    expect(bearer.challenges).toEqual([
      expect.objectContaining({
        scheme: "dpop",
        parameters: expect.objectContaining({ error: "invalid_token", algs: expect.stringContaining("ES256") }),
      }),
    ]);
    expect((await problemOf(bearer.res)).code).toBe("token_dpop_bound");

    const noProof = await fetch(`${gateway}/api/items`, {
      headers: { Authorization: `DPoP ${s.accessToken}` },
      signal: AbortSignal.timeout(10_000),
    });
    expect(noProof.status).toBe(401);
    const noProofChallenge = noProof.headers.get("www-authenticate")!;
    expect(noProofChallenge).toMatch(/^DPoP /);
    expect(noProofChallenge).toContain('error="invalid_dpop_proof"');
    expect((await problemOf(noProof)).code).toBe("dpop_proof_invalid");

    const otherKey = await call(s.accessToken, "GET", `${gateway}/api/items`, await newDpop());
    expect(otherKey.res.status).toBe(401);
    expect(otherKey.challenges?.[0]?.parameters.error).toBe("invalid_dpop_proof");
    expect(await problemOf(otherKey.res)).toMatchObject({
      code: "dpop_proof_invalid",
      detail: expect.stringContaining("another key"),
    });

    // A proof for http://localhost:<port>/api/items sent to http://127.0.0.1:<port>/api/items: the
    // Worker compares htu with the URL it sees, and that is 127.0.0.1, not localhost.
    const port = new URL(gateway).port;
    const elsewhere = await call(
      s.accessToken,
      "GET",
      `http://localhost:${port}/api/items`,
      s.dpop,
      `${gateway}/api/items`,
    );
    expect(proofOf(elsewhere.sent).payload.htu).toBe(`http://localhost:${port}/api/items`);
    expect(elsewhere.res.status).toBe(401);
    expect(await problemOf(elsewhere.res)).toMatchObject({
      code: "dpop_proof_invalid",
      detail: expect.stringContaining("htu is not the URL of this request"),
    });
  });

  it("refuses a captured request sent again (dpop_proof_replayed), in the isolate and through the DpopReplay Durable Object, which remembers across a restart", async () => {
    const s = await login("alice");
    const gateway = stack!.gateway;
    for (const path of ["/api/items", "/network/items"]) {
      const first = await call(s.accessToken, "GET", `${gateway}${path}`, s.dpop);
      expect(first.res.status, `${path}: ${await first.res.clone().text()}`).toBe(200);
      const again = await replay(first.sent);
      expect(again.status, path).toBe(401);
      expect(again.headers.get("www-authenticate"), path).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
      expect((await problemOf(again)).code, path).toBe("dpop_proof_replayed");
    }

    // The isolate's memory of proofs goes with the isolate; the Durable Object's is in its storage
    // (the same --persist-to across the restart). A request captured before the restart and sent
    // again after it: on an "isolate" route it passes (as documented: a replay is refused once per
    // isolate), on the "network" route the replay shard still refuses it.
    const isolateRoute = await call(s.accessToken, "GET", `${gateway}/api/later`, s.dpop);
    const networkRoute = await call(s.accessToken, "GET", `${gateway}/network/later`, s.dpop);
    expect(isolateRoute.res.status).toBe(200);
    expect(networkRoute.res.status).toBe(200);
    const restartStarted = Date.now();
    await stack!.restartGateway();
    console.log(`wrangler dev restarted in ${Date.now() - restartStarted} ms`);
    const afterIsolate = await replay(isolateRoute.sent);
    expect(afterIsolate.status, await afterIsolate.clone().text()).toBe(200);
    const afterNetwork = await replay(networkRoute.sent);
    expect(afterNetwork.status).toBe(401);
    expect((await problemOf(afterNetwork)).code).toBe("dpop_proof_replayed");
  });

  it('with SENDER_CONSTRAINTS {"dpop":{"nonce":true}}: the first call gets 401 use_dpop_nonce and a DPoP-Nonce, oauth4webapi\'s retry with it passes', async () => {
    const s = await login("erin");
    const url = `${nonceStack!.gateway}/api/items`;
    const first = await call(s.accessToken, "GET", url, s.dpop);
    expect(proofOf(first.sent).payload.nonce).toBeUndefined();
    expect(first.res.status).toBe(401);
    const nonce = first.res.headers.get("dpop-nonce");
    expect(nonce).toBeTruthy();
    expect(first.res.headers.get("www-authenticate")).toMatch(/^DPoP .*error="use_dpop_nonce"/);
    expect((await problemOf(first.res)).code).toBe("dpop_nonce_required");
    expect(oauth.isDPoPNonceError(first.error)).toBe(true);

    // As oauth4webapi's documentation has it: on a nonce error, the same call again (the handle
    // kept the nonce for this origin).
    const retry = await call(s.accessToken, "GET", url, s.dpop);
    const echo = await echoOf(retry.res);
    expect(proofOf(retry.sent).payload).toMatchObject({ nonce, htm: "GET", htu: url });
    expect(echo.headers["x-auth-binding"]).toBe("dpop");
    expect(echo.headers["x-auth-key-thumbprint"]).toBe(s.jkt);
    // FORWARD_AUTHORIZATION true (the default) here: the token and its proof go on to the origin.
    expect(echo.headers.authorization).toBe(`DPoP ${s.accessToken}`);
    expect(echo.headers.dpop).toBe(retry.sent.headers.dpop);

    // The next call uses the nonce it holds: no refusal first. (Had the nonce's window ended in
    // between, the retry's answer carried the next nonce in DPoP-Nonce, and the handle took that.)
    const next = await call(s.accessToken, "GET", url, s.dpop);
    expect(next.res.status).toBe(200);
    expect(proofOf(next.sent).payload.nonce).toBe(retry.res.headers.get("dpop-nonce") ?? nonce);

    // The replay of a request with a valid nonce is refused all the same.
    expect((await problemOf(await replay(next.sent))).code).toBe("dpop_proof_replayed");
  });

  it("revokes the session's DPoP-bound token within the bound after the user logs out at the provider (back-channel logout by sid)", async () => {
    const gateway = stack!.gateway;
    const s1 = await login("carol");
    const s2 = await login("carol");
    expect(s1.sid).not.toBe(s2.sid);
    for (const s of [s1, s2])
      expect((await call(s.accessToken, "GET", `${gateway}/api/me`, s.dpop)).res.status).toBe(200);

    const loggedOutAt = Date.now();
    const confirm = await logoutAtProvider(as.end_session_endpoint!, s1);
    expect(confirm.status).toBe(303); // the provider answers after its back-channel POSTs are done
    const denial = await firstDenial(s1, gateway, loggedOutAt);

    const sent = deliveries().filter((d) => d.sid === s1.sid);
    expect(sent, op!.output()).toHaveLength(1);
    expect(sent[0]!.event, sent[0]!.error).toBe("backchannel.success");
    console.log(
      `provider logout (confirm POST) -> first refusal of the DPoP-bound token: ${denial.at - loggedOutAt} ms ` +
        `(bound ${STALENESS_SECONDS * 1000} ms)`,
    );
    expect(denial.at - loggedOutAt).toBeLessThanOrEqual(STALENESS_SECONDS * 1000 + 1500);
    // Refused for the token, with a fresh and valid proof: token_revoked, challenged in DPoP terms.
    const refused = denial.call!;
    expect(refused.res.status).toBe(401);
    expect(proofOf(refused.sent).payload.htu).toBe(`${gateway}/api/me`);
    expect(refused.res.headers.get("www-authenticate")).toMatch(/^DPoP .*error="invalid_token"/);
    expect((await problemOf(refused.res)).code).toBe("token_revoked");
    const network = await call(s1.accessToken, "GET", `${gateway}/network/me`, s1.dpop);
    expect((await problemOf(network.res)).code).toBe("token_revoked");
    // The user's other session is another sid: still good.
    expect((await call(s2.accessToken, "GET", `${gateway}/api/me`, s2.dpop)).res.status).toBe(200);
  });

  it("POST /.auth/logout with the DPoP scheme and a proof for it (htm POST) answers 204, and the token is refused after", async () => {
    const gateway = stack!.gateway;
    const s = await login("dave");
    expect((await call(s.accessToken, "GET", `${gateway}/api/me`, s.dpop)).res.status).toBe(200);

    // The bound token cannot log out as a bearer token: a stolen one could not end the session either.
    const asBearer = await call(s.accessToken, "POST", `${gateway}/.auth/logout`, undefined);
    expect(asBearer.res.status).toBe(401);
    expect(asBearer.res.headers.get("www-authenticate")).toMatch(/^DPoP .*error="invalid_token"/);
    expect((await problemOf(asBearer.res)).code).toBe("token_dpop_bound");

    const loggedOutAt = Date.now();
    const out = await call(s.accessToken, "POST", `${gateway}/.auth/logout`, s.dpop);
    expect(out.res.status, await out.res.clone().text()).toBe(204);
    expect(proofOf(out.sent).payload).toMatchObject({ htm: "POST", htu: `${gateway}/.auth/logout` });

    const denial = await firstDenial(s, gateway, loggedOutAt);
    console.log(`POST /.auth/logout -> first refusal: ${denial.at - loggedOutAt} ms`);
    expect(denial.at - loggedOutAt).toBeLessThanOrEqual(STALENESS_SECONDS * 1000 + 1500);
    expect(denial.call!.res.status).toBe(401);
    expect(denial.call!.res.headers.get("www-authenticate")).toMatch(/^DPoP .*error="invalid_token"/);
    expect((await problemOf(denial.call!.res)).code).toBe("token_revoked");
  });
});

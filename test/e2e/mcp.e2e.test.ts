// PROTECTED_RESOURCE end to end, as the MCP authorization specification plays it, with real parts
// only: the MCP SDK's client (StreamableHTTPClientTransport with an OAuthClientProvider) talks to the
// SDK's Streamable HTTP server (test/e2e/mcp-server.mjs) through the authorizer under `wrangler dev`,
// and gets its token from a real authorization server (oidc-provider, started with --mcp-resource).
// The client is told nothing but the MCP server's URL: from the authorizer's 401 it finds the
// resource's metadata (RFC 9728), from there the provider, registers itself (RFC 7591) and builds an
// authorization URL with PKCE and `resource` (RFC 8707); a browser (authorizeAtProvider, a cookie jar) goes
// through the provider's scripted login to the client's loopback callback, and finishAuth trades the
// code for a JWT access token whose `aud` is the MCP server's URL. Then: tools listed and called with
// the identity the authorizer forwarded; a token of the same provider for another audience refused
// (audience_mismatch); the client's token revoked at POST /.auth/revoke and its next call refused
// within REVOCATION_MAX_STALENESS_SECONDS.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizeAtProvider, CookieJar } from "./browser";
import { freePort, start, startOidcProvider, startStack, stop, waitFor, type Proc, type Stack } from "./harness";

const STALENESS_SECONDS = 2;
const MCP_SCOPE = "mcp:tools"; // as in oidc-provider.mjs
/** The audience of the provider's other resource, which the issuer's `audiences` accept too. */
const OTHER_AUDIENCE = "other-api";
const OTHER_RESOURCE = "urn:edge-authorizer:e2e-api"; // as in oidc-provider.mjs

let op: Proc | undefined;
let mcp: Proc | undefined;
let stack: Stack | undefined;
let callbackServer: Server | undefined;
let opUrl: string;
/** The MCP server's URL as clients use it: the authorizer's /mcp. PROTECTED_RESOURCE's `resource`. */
let mcpUrl: string;
let metadataUrl: string;
/** The client's loopback redirect URI (RFC 8252 style), served by this test. */
let callbackUrl: string;
/** What reached the loopback callback, in order. */
const callbacks: URL[] = [];

beforeAll(async () => {
  const [opPort, gatewayPort, mcpPort] = [await freePort(), await freePort(), await freePort()];
  opUrl = `http://127.0.0.1:${opPort}`;
  const gateway = `http://127.0.0.1:${gatewayPort}`;
  mcpUrl = `${gateway}/mcp`;
  metadataUrl = `${gateway}/.well-known/oauth-protected-resource/mcp`;
  callbackServer = createServer((req, res) => {
    callbacks.push(new URL(req.url ?? "/", callbackUrl));
    res.writeHead(200, { "Content-Type": "text/plain" }).end("Signed in; you may close this window.");
  });
  await new Promise<void>((resolve) => callbackServer!.listen(0, "127.0.0.1", resolve));
  callbackUrl = `http://127.0.0.1:${(callbackServer.address() as { port: number }).port}/callback`;
  mcp = start(["test/e2e/mcp-server.mjs", "--port", String(mcpPort)]);
  try {
    op = await startOidcProvider(opPort, gatewayPort, ["--audience", OTHER_AUDIENCE, "--mcp-resource", mcpUrl]);
    await waitFor(`http://127.0.0.1:${mcpPort}/`, mcp, 20_000);
    stack = await startStack(
      {
        ISSUERS: JSON.stringify([{ issuer: opUrl, audiences: [mcpUrl, OTHER_AUDIENCE] }]),
        ORIGIN_URL: `http://127.0.0.1:${mcpPort}`,
        PROTECTED_RESOURCE: JSON.stringify({
          resource: mcpUrl,
          authorizationServers: [opUrl],
          scopesSupported: [MCP_SCOPE],
          resourceName: "e2e MCP server",
        }),
        POLICY: JSON.stringify({ routes: [{ path: "/mcp", require: { scopes: [MCP_SCOPE] } }] }),
        REVOCATION_MAX_STALENESS_SECONDS: String(STALENESS_SECONDS),
      },
      { gatewayPort },
    );
  } catch (e) {
    await Promise.all([stop(op), stop(mcp)]);
    callbackServer.close();
    throw e;
  }
});
afterAll(async () => {
  await stack?.stop();
  await Promise.all([stop(op), stop(mcp)]);
  callbackServer?.closeAllConnections();
  callbackServer?.close();
});

/**
 * An MCP client's OAuth state, in memory: what a CLI or desktop MCP client keeps on disk. Its
 * redirect is recorded, not followed: the test plays the browser.
 */
class InMemoryOAuthProvider implements OAuthClientProvider {
  client?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = "";
  lastState = "";
  readonly authorizationUrls: URL[] = [];
  validateResourceURL?: (serverUrl: string | URL, resource?: string) => Promise<URL | undefined>;
  /** `resource`: the resource indicator to ask for whatever the metadata says (a misconfigured client). */
  constructor(resource?: string) {
    if (resource !== undefined) this.validateResourceURL = async () => new URL(resource);
  }
  get redirectUrl(): string {
    return callbackUrl;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "edge-authorizer e2e MCP client",
      redirect_uris: [callbackUrl],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  state(): string {
    this.lastState = randomBytes(16).toString("base64url");
    return this.lastState;
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrls.push(url);
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

interface Exchange {
  method: string;
  url: string;
  status: number;
  wwwAuthenticate: string | null;
  /** The problem's `code` of the authorizer's 401s and 403s. */
  code?: string;
  at: number;
}
/** Every request the MCP client made (the transport's and its OAuth discovery's), in order. */
const exchanges: Exchange[] = [];
/** The client's fetch: the platform's, each request bounded (but a stream the transport aborts itself) and recorded. */
const recordingFetch: FetchLike = async (url, init) => {
  const res = await fetch(url, { ...init, signal: init?.signal ?? AbortSignal.timeout(10_000) });
  const exchange: Exchange = {
    method: init?.method ?? "GET",
    url: String(url),
    status: res.status,
    wwwAuthenticate: res.headers.get("www-authenticate"),
    at: Date.now(),
  };
  if ((res.status === 401 || res.status === 403) && res.headers.get("content-type")?.includes("problem+json"))
    exchange.code = ((await res.clone().json()) as { code?: string }).code;
  exchanges.push(exchange);
  return res;
};
const show = (e: Exchange) =>
  `${e.method} ${e.url} -> ${e.status}${e.code ? ` ${e.code}` : ""}${e.wwwAuthenticate ? ` [WWW-Authenticate: ${e.wwwAuthenticate}]` : ""}`;

const newClient = () => new Client({ name: "edge-authorizer-e2e", version: "1.0.0" });
const transportFor = (authProvider: OAuthClientProvider) =>
  new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider, fetch: recordingFetch });
const claimsOf = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString());
/** What the MCP server printed about the requests that reached it. */
const originRequests = () =>
  mcp!
    .output()
    .split("\n")
    .filter((l) => l.startsWith('{"event":"mcp.request"'))
    .map((l) => JSON.parse(l) as { method: string; path: string; rpc: string[]; subject: string | null })
    .filter((r) => r.path === "/mcp"); // not the harness's readiness probe
const toolCallsAtOrigin = () => originRequests().filter((r) => r.rpc.includes("tools/call"));

/** The provider of the client that signed in (tests 1, 2 and 4 share it, in order). */
const provider = new InMemoryOAuthProvider();
/** The connected client of test 2, whose token test 4 revokes. */
let client: Client | undefined;
afterAll(async () => {
  await client?.close();
});

describe("an MCP client and server behind the authorizer (PROTECTED_RESOURCE), oidc-provider as the authorization server", () => {
  it("the client without a token finds the authorization server from the 401, registers, authorizes with PKCE and resource, and gets a token for the MCP server", async () => {
    const first = transportFor(provider);
    await expect(newClient().connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    console.log(`discovery, as the client did it:\n  ${exchanges.map(show).join("\n  ")}`);

    // The initialize POST without a token: 401 pointing at the metadata.
    const challenge = exchanges[0]!;
    expect(challenge).toMatchObject({ method: "POST", url: mcpUrl, status: 401, code: "token_missing" });
    expect(challenge.wwwAuthenticate).toMatch(/^Bearer realm="127\.0\.0\.1:\d+"/);
    expect(challenge.wwwAuthenticate).toContain(`resource_metadata="${metadataUrl}"`);
    // Then the metadata, the provider's metadata and the registration, in that order.
    const steps = exchanges.slice(1).map((e) => `${e.method} ${e.url} ${e.status}`);
    expect(steps).toEqual([
      `GET ${metadataUrl} 200`,
      `GET ${opUrl}/.well-known/oauth-authorization-server 200`,
      `POST ${opUrl}/reg 201`,
    ]);
    const registered = provider.client as OAuthClientInformationMixed & { scope?: string; redirect_uris?: string[] };
    expect(registered.client_id).toMatch(/.+/);
    expect(registered).toMatchObject({ scope: MCP_SCOPE, redirect_uris: [callbackUrl] });
    // What the provider registered: a public client (no secret, so PKCE is its only proof) for the loopback callback.
    const registrations = op!
      .output()
      .split("\n")
      .filter((l) => l.startsWith('{"event":"registration"'))
      .map((l) => (JSON.parse(l) as { client: Record<string, unknown> }).client);
    expect(registrations).toEqual([
      expect.objectContaining({
        client_id: registered.client_id,
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code"],
        redirect_uris: [callbackUrl],
        scope: MCP_SCOPE,
      }),
    ]);

    expect(provider.authorizationUrls).toHaveLength(1);
    const authorization = provider.authorizationUrls[0]!;
    console.log(`authorization URL: ${authorization.href}`);
    expect(authorization.origin + authorization.pathname).toBe(`${opUrl}/auth`);
    expect(Object.fromEntries(authorization.searchParams)).toEqual({
      response_type: "code",
      client_id: registered.client_id,
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: "S256",
      redirect_uri: callbackUrl,
      state: provider.lastState,
      scope: MCP_SCOPE,
      resource: mcpUrl,
    });

    // The user's browser: the provider's login and consent, then the client's loopback callback.
    const jar = new CookieJar();
    const redirect = await authorizeAtProvider(jar, authorization.href, callbackUrl);
    const landed = await fetch(redirect, { signal: AbortSignal.timeout(10_000) });
    expect(landed.status).toBe(200);
    const callback = callbacks.at(-1)!;
    expect(callback.searchParams.get("error"), callback.searchParams.get("error_description") ?? "").toBeNull();
    expect(callback.searchParams.get("state")).toBe(provider.lastState);
    expect(callback.searchParams.get("iss")).toBe(opUrl);
    const code = callback.searchParams.get("code")!;
    expect(code).toMatch(/.+/);

    const before = exchanges.length;
    await first.finishAuth(code);
    expect(exchanges.slice(before).map((e) => `${e.method} ${e.url} ${e.status}`)).toContain(`POST ${opUrl}/token 200`);
    const token = provider.saved!;
    expect(token.token_type.toLowerCase()).toBe("bearer");
    expect(token.refresh_token).toBeUndefined(); // the client registered authorization_code only
    const claims = claimsOf(token.access_token);
    console.log(`access token claims: ${JSON.stringify(claims)}`);
    expect(claims).toMatchObject({ iss: opUrl, aud: mcpUrl, sub: "alice", scope: MCP_SCOPE });
    expect(claims.client_id).toBe(registered.client_id);
    expect(typeof claims.jti).toBe("string");
  });

  it("the client with its token connects, lists the tools and calls them; the server sees the identity the authorizer forwarded", async () => {
    const token = provider.saved!.access_token;
    const { jti } = claimsOf(token) as { jti: string };
    client = newClient();
    await client.connect(transportFor(provider));
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["add", "whoami"]);

    const whoami = await client.callTool({ name: "whoami", arguments: {} });
    console.log(`whoami -> ${JSON.stringify(whoami.content)}`);
    expect(whoami.isError).toBeFalsy();
    expect(whoami.structuredContent).toEqual({ subject: "alice", issuer: opUrl, scopes: MCP_SCOPE, tokenId: jti });
    const sum = await client.callTool({ name: "add", arguments: { a: 2, b: 40 } });
    expect(sum.content).toEqual([{ type: "text", text: "42" }]);

    // Every request that reached the MCP server carried the token's subject, set by the authorizer.
    const reached = originRequests();
    console.log(
      `what reached the MCP server: ${reached.map((r) => `${r.method} ${r.rpc.join(",")} (${r.subject})`).join("; ")}`,
    );
    expect(reached.filter((r) => r.subject === "alice").map((r) => r.rpc.join(","))).toEqual(
      expect.arrayContaining(["initialize", "notifications/initialized", "tools/list", "tools/call"]),
    );
    expect(reached.filter((r) => r.subject !== "alice")).toEqual([]); // the 401 of test 1 never reached it
  });

  it("refuses a token of the same provider for another audience (audience_mismatch), with the metadata in the challenge; the metadata says where to get the right one", async () => {
    // A client that asks for the provider's other resource instead of the MCP server's (its own
    // validateResourceURL): its token's aud is "other-api", which the issuer's `audiences` accept,
    // but it is not the MCP server's URL.
    const wrong = new InMemoryOAuthProvider(OTHER_RESOURCE);
    const first = transportFor(wrong);
    await expect(newClient().connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(wrong.authorizationUrls[0]!.searchParams.get("resource")).toBe(OTHER_RESOURCE);
    const redirect = await authorizeAtProvider(new CookieJar(), wrong.authorizationUrls[0]!.href, callbackUrl);
    await first.finishAuth(redirect.searchParams.get("code")!);
    const other = wrong.saved!.access_token;
    expect(claimsOf(other)).toMatchObject({ iss: opUrl, aud: OTHER_AUDIENCE, sub: "alice" });

    const reachedBefore = originRequests().length;
    await expect(newClient().connect(transportFor(wrong))).rejects.toBeInstanceOf(UnauthorizedError);
    const denial = exchanges.filter((e) => e.url === mcpUrl && e.status === 401).at(-1)!;
    console.log(`a token for aud ${OTHER_AUDIENCE}: ${show(denial)}`);
    expect(denial).toMatchObject({ method: "POST", code: "audience_mismatch" });
    expect(denial.wwwAuthenticate).toContain('error="invalid_token"');
    expect(denial.wwwAuthenticate).toContain(`resource_metadata="${metadataUrl}"`);
    expect(wrong.authorizationUrls).toHaveLength(2); // refused, the client went back to the provider
    expect(originRequests().length).toBe(reachedBefore); // the request never reached the MCP server

    const metadata = await fetch(metadataUrl, { signal: AbortSignal.timeout(10_000) });
    expect(metadata.status).toBe(200);
    expect(metadata.headers.get("cache-control")).toBe("public, max-age=300");
    const document = (await metadata.json()) as Record<string, unknown>;
    console.log(`${metadataUrl} -> ${JSON.stringify(document)}`);
    expect(document).toMatchObject({
      resource: mcpUrl,
      authorization_servers: [opUrl],
      scopes_supported: [MCP_SCOPE],
      resource_name: "e2e MCP server",
      bearer_methods_supported: ["header"],
    });
    expect(Array.isArray(document.dpop_signing_alg_values_supported)).toBe(true);
    // Only the resource's own metadata URL is the authorizer's (RFC 9728 section 3.1).
    const bare = await fetch(metadataUrl.replace(/\/mcp$/, ""), { signal: AbortSignal.timeout(10_000) });
    expect(bare.status).toBe(404);
  });

  it("refuses the client's next call within the revocation bound once its token is revoked at POST /.auth/revoke", async () => {
    const token = provider.saved!.access_token;
    expect((await client!.callTool({ name: "whoami", arguments: {} })).isError).toBeFalsy();
    const callsBefore = toolCallsAtOrigin().length;
    const urlsBefore = provider.authorizationUrls.length;

    const revoke = await fetch(`${stack!.gateway}/.auth/revoke`, {
      method: "POST",
      headers: { Authorization: `Bearer ${stack!.adminToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
      signal: AbortSignal.timeout(10_000),
    });
    const revokedAt = Date.now();
    const answer = (await revoke.json()) as { seq?: number; revocation?: { kind: string; value: string } };
    expect(revoke.status, JSON.stringify(answer)).toBe(200);
    expect(answer.revocation).toMatchObject({ kind: "jti", value: (claimsOf(token) as { jti: string }).jti });

    // The client's tool calls, one after another (about every 50 ms), until one is refused; bounded.
    let refusedAt = Infinity;
    let refusal: unknown;
    let passed = 0;
    for (let i = 0; i < 200 && Date.now() - revokedAt < (STALENESS_SECONDS + 5) * 1000; i++) {
      try {
        await client!.callTool({ name: "whoami", arguments: {} });
        passed++;
      } catch (e) {
        refusedAt = Date.now();
        refusal = e;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const denial = exchanges.filter((e) => e.url === mcpUrl && e.status === 401).at(-1);
    console.log(
      `revoke answered 200 -> the client's first refused call: ${refusedAt - revokedAt} ms ` +
        `(${passed} calls passed before; bound ${STALENESS_SECONDS * 1000} ms); the refusal: ${denial ? show(denial) : "none"}`,
    );
    expect(refusal).toBeInstanceOf(UnauthorizedError);
    expect(refusedAt - revokedAt).toBeLessThanOrEqual(STALENESS_SECONDS * 1000 + 1500);
    expect(denial).toMatchObject({ method: "POST", status: 401, code: "token_revoked" });
    expect(denial!.wwwAuthenticate).toContain('error="invalid_token"');
    expect(denial!.wwwAuthenticate).toContain(`resource_metadata="${metadataUrl}"`);
    // The client went back to the authorization server for a new token; the refused call never reached the server.
    expect(provider.authorizationUrls.length).toBe(urlsBefore + 1);
    expect(toolCallsAtOrigin().length).toBe(callsBefore + passed);
  });
});

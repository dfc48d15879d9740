// A real OpenID Provider (panva's oidc-provider) for the back-channel logout end-to-end test.
// One client ("demo-rp") whose back-channel logout URI is the authorizer's
// /.auth/backchannel-logout; JWT access tokens for one resource server that carry the session's
// `sid` (the same `sid` the provider later puts in its logout token).
//
// Usage: node test/e2e/oidc-provider.mjs --port 9100 --authorizer-port 8787
//   [--audience demo-api] [--redirect-uri http://127.0.0.1:1/cb] [--dpop [--dpop-nonce-secret <64 hex>]]
//   [--mcp-resource http://127.0.0.1:8787/mcp]
// --dpop makes the client's access tokens DPoP-bound (RFC 9449): the client must send a DPoP proof to
// the token endpoint (`dpop_bound_access_tokens`), and its JWT access tokens carry `cnf.jkt`.
// --dpop-nonce-secret (32 bytes in hex) makes the provider require its own DPoP nonces (section 8) at
// the token endpoint as well. Without --dpop the configuration is what it always was.
// --mcp-resource makes it the authorization server of an MCP server (the MCP authorization
// specification): that URL is a second resource indicator (RFC 8707) whose JWT access tokens have
// `aud` = the URL and scope `mcp:tools`; clients register themselves (RFC 7591, `registration_endpoint`
// in the metadata, no initial access token; a loopback http redirect URI is fine) and every client
// must use PKCE. Without it the provider has none of this.
// Login is scripted, no browser and no form: the provider's interactions go to /interaction/<uid>,
// which this script completes at once for the account named by the authorization request's
// `login_hint` (default "alice"), granting every scope and resource scope asked for.
// Prints `listening on <port>` when ready, and JSON lines about each back-channel delivery: the
// authorizer's answer (`backchannel.response`: status, headers, body), then the provider's verdict
// (`backchannel.success` / `backchannel.error`, with the logout token it sent, decoded and whole).
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { exportJWK, generateKeyPair } from "jose";
// oidc-provider ships no types (@types/oidc-provider is not a devDependency): it is `any` here.
// @ts-ignore
import Provider, { errors } from "oidc-provider";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.OP_PORT ?? "9100" },
    "authorizer-port": { type: "string", default: process.env.AUTHORIZER_PORT ?? "8787" },
    audience: { type: "string", default: "demo-api" },
    "redirect-uri": { type: "string", default: "http://127.0.0.1:1/cb" },
    dpop: { type: "boolean", default: false },
    "dpop-nonce-secret": { type: "string" },
    "mcp-resource": { type: "string" },
  },
});
const mcpResource = values["mcp-resource"];
if (mcpResource !== undefined && (!URL.canParse(mcpResource) || mcpResource.includes("#")))
  throw new Error("--mcp-resource needs an absolute URL without a fragment");
const nonceSecret = values["dpop-nonce-secret"];
if (nonceSecret !== undefined && (!values.dpop || !/^[0-9a-f]{64}$/i.test(nonceSecret)))
  throw new Error("--dpop-nonce-secret needs --dpop and 32 bytes in hex (64 characters)");
/** What --dpop adds to the provider's features: DPoP (ES256, Ed25519 or EdDSA proofs), nonces with --dpop-nonce-secret. */
const dpopFeature = values.dpop
  ? {
      dPoP: {
        enabled: true,
        ...(nonceSecret !== undefined
          ? { nonceSecret: Buffer.from(nonceSecret, "hex"), requireNonce: () => true }
          : undefined),
      },
    }
  : undefined;
const port = Number(values.port);
const issuer = `http://127.0.0.1:${port}`;
const CLIENT_ID = "demo-rp";
const CLIENT_SECRET = "demo-rp-secret-0123456789abcdef";
/** The resource indicator (RFC 8707) the RP asks for; its access tokens get `aud` = --audience. */
const RESOURCE = "urn:edge-authorizer:e2e-api";
const RESOURCE_SCOPE = "api:read";
/** The scope of --mcp-resource's tokens; a client registers it (RFC 7591 `scope`), so it is one of `scopes` too. */
const MCP_SCOPE = "mcp:tools";
/** What --mcp-resource adds to the configuration (top level and features); nothing without it. */
const mcp =
  mcpResource !== undefined
    ? {
        config: {
          scopes: ["openid", "offline_access", MCP_SCOPE],
          pkce: { required: () => true },
          // A registering client names no id_token_signed_response_alg (the default RS256): the
          // provider signs with its one ES256 key.
          clientDefaults: {
            grant_types: ["authorization_code"],
            id_token_signed_response_alg: "ES256",
            response_types: ["code"],
            token_endpoint_auth_method: "client_secret_basic",
          },
        },
        features: { registration: { enabled: true } },
      }
    : { config: undefined, features: undefined };

const { privateKey } = await generateKeyPair("ES256", { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: "e2e-op-es256", alg: "ES256", use: "sig" };

/** The logout tokens this provider sent, by jti, so the delivery events can print them. */
/** @type {string[]} */
const sentLogoutTokens = [];

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [values["redirect-uri"]],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      id_token_signed_response_alg: "ES256",
      backchannel_logout_uri: `http://127.0.0.1:${values["authorizer-port"]}/.auth/backchannel-logout`,
      backchannel_logout_session_required: true,
      ...(values.dpop ? { dpop_bound_access_tokens: true } : undefined),
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: ["e2e-op-cookie-key-0123456789"] },
  findAccount: async (/** @type {unknown} */ _ctx, /** @type {string} */ sub) => ({
    accountId: sub,
    claims: async () => ({ sub }),
  }),
  ...mcp.config,
  ttl: { AccessToken: 600, IdToken: 600, Session: 3600, Grant: 3600, Interaction: 600, AuthorizationCode: 60 },
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    ...dpopFeature,
    ...mcp.features,
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (/** @type {unknown} */ _ctx, /** @type {string} */ indicator) => {
        if (mcpResource !== undefined && indicator === mcpResource)
          return {
            scope: MCP_SCOPE,
            audience: mcpResource,
            accessTokenFormat: "jwt",
            accessTokenTTL: 600,
            jwt: { sign: { alg: "ES256" } },
          };
        if (indicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: RESOURCE_SCOPE,
          audience: values.audience,
          accessTokenFormat: "jwt",
          accessTokenTTL: 600,
          jwt: { sign: { alg: "ES256" } },
        };
      },
    },
  },
  // The session's per-client `sid` (what Session#sidFor(client) gives, and what the provider puts
  // in its logout token) is on the access token model as `sid`; put it in the JWT.
  extraTokenClaims: async (/** @type {unknown} */ _ctx, /** @type {{ kind: string, sid?: string }} */ token) =>
    token.kind === "AccessToken" && token.sid ? { sid: token.sid } : undefined,
  // oidc-provider refuses outgoing requests to loopback and private addresses (its SSRF guard, an
  // undici dispatcher it adds to the options); the authorizer under `wrangler dev` is on 127.0.0.1.
  // Each back-channel answer is printed too (status and headers), for the test to check.
  fetch: async (
    /** @type {string} */ url,
    /** @type {RequestInit & { dispatcher?: unknown }} */ { dispatcher: _dispatcher, ...options },
  ) => {
    const res = await globalThis.fetch(url, options);
    if (url.endsWith("/.auth/backchannel-logout")) {
      const body = await res.clone().text();
      console.log(
        JSON.stringify({
          event: "backchannel.response",
          status: res.status,
          headers: Object.fromEntries(res.headers),
          body,
          at: Date.now(),
        }),
      );
    }
    return res;
  },
});
// Each dynamic registration (--mcp-resource), for the test to check what the client asked for.
provider.on(
  "registration_create.success",
  (/** @type {unknown} */ _ctx, /** @type {{ metadata(): object }} */ client) =>
    console.log(JSON.stringify({ event: "registration", client: client.metadata(), at: Date.now() })),
);
provider.on("server_error", (/** @type {unknown} */ _ctx, /** @type {unknown} */ err) =>
  console.error("server_error", err),
);

// Record each logout token as it is issued: the delivery events only give client, sub and sid.
const issue = provider.IdToken.prototype.issue;
provider.IdToken.prototype.issue = async function (/** @type {{ use?: string } | undefined} */ opts) {
  const jwt = await issue.call(this, opts);
  if (opts?.use === "logout") sentLogoutTokens.push(jwt);
  return jwt;
};
/** @param {string} jwt */
const decode = (jwt) => {
  const [h, p] = jwt.split(".");
  return {
    header: JSON.parse(Buffer.from(h ?? "", "base64url").toString()),
    payload: JSON.parse(Buffer.from(p ?? "", "base64url").toString()),
  };
};
const tokenFor = (/** @type {string | undefined} */ sid) => {
  const jwt = sentLogoutTokens.find((t) => decode(t).payload.sid === sid);
  return jwt ? { ...decode(jwt), jwt } : undefined;
};
/** @typedef {{ clientId: string }} Client */
provider.on(
  "backchannel.success",
  (/** @type {unknown} */ _ctx, /** @type {Client} */ client, /** @type {string} */ sub, /** @type {string} */ sid) =>
    console.log(
      JSON.stringify({
        event: "backchannel.success",
        client: client.clientId,
        sub,
        sid,
        at: Date.now(),
        logoutToken: tokenFor(sid),
      }),
    ),
);
provider.on(
  "backchannel.error",
  (
    /** @type {unknown} */ _ctx,
    /** @type {any} */ err,
    /** @type {Client} */ client,
    /** @type {string} */ sub,
    /** @type {string} */ sid,
  ) =>
    console.log(
      JSON.stringify({
        event: "backchannel.error",
        error: String(err?.message ?? err),
        client: client.clientId,
        sub,
        sid,
        at: Date.now(),
        logoutToken: tokenFor(sid),
      }),
    ),
);

/**
 * Completes the pending interaction (login, then consent) without a page.
 * @param {import("node:http").IncomingMessage} req @param {import("node:http").ServerResponse} res
 */
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === "login") {
    const accountId = typeof params.login_hint === "string" && params.login_hint ? params.login_hint : "alice";
    return provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === "consent") {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session?.accountId, clientId: String(params.client_id) });
    if (!grant) throw new Error("grant not found");
    const d = /** @type {Record<string, any>} */ (prompt.details);
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(" "));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {}))
      grant.addResourceScope(indicator, scopes.join(" "));
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  res.writeHead(400, { "Content-Type": "text/plain" }).end(`unexpected prompt ${prompt.name}`);
}

const callback = provider.callback();
const server = createServer((req, res) => {
  if ((req.url ?? "").startsWith("/interaction/")) {
    interaction(req, res).catch((err) => {
      console.error("interaction failed", err);
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
      res.end(String(err?.message ?? err));
    });
    return;
  }
  callback(req, res);
});
server.listen(port, "127.0.0.1", () =>
  console.log(
    `listening on ${port} (issuer ${issuer}, client ${CLIENT_ID}, audience ${values.audience}` +
      `${values.dpop ? `, DPoP-bound tokens${nonceSecret !== undefined ? " with nonces" : ""}` : ""}` +
      `${mcpResource !== undefined ? `, MCP resource ${mcpResource} with dynamic registration` : ""})`,
  ),
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));

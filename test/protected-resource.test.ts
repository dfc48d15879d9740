// PROTECTED_RESOURCE (RFC 9728, as the MCP authorization specification asks of a protected MCP
// server): the metadata at the well-known URL (path-suffixed for a resource with a path), the
// resource_metadata parameter in every challenge, and tokens that must name the resource (RFC 8707).
import { reset } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, makeEnv, problemOf, send, world } from "./helpers/app";
import { DpopClient, dpop } from "./helpers/dpop";

afterEach(async () => {
  vi.restoreAllMocks();
  await reset();
});

const RESOURCE = "https://gw.test/mcp";
const METADATA = "https://gw.test/.well-known/oauth-protected-resource/mcp";

async function resourceWorld(resource = RESOURCE) {
  const w = await world();
  const env = makeEnv({
    ISSUERS: [{ issuer: w.idp.issuer, jwksUri: w.idp.jwksUri, audiences: ["api", resource] }],
    PROTECTED_RESOURCE: {
      resource,
      authorizationServers: [w.idp.issuer],
      scopesSupported: ["mcp:tools"],
      resourceName: "Demo MCP server",
    },
  });
  return { ...w, env };
}

describe("PROTECTED_RESOURCE", () => {
  it("publishes the metadata at the path-suffixed well-known URL, and nowhere else", async () => {
    const w = await resourceWorld();
    const res = await send(w.env, METADATA);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      resource: RESOURCE,
      authorization_servers: [w.idp.issuer],
      scopes_supported: ["mcp:tools"],
      bearer_methods_supported: ["header"],
      resource_name: "Demo MCP server",
      dpop_signing_alg_values_supported: expect.arrayContaining(["ES256"]),
    });
    expect((await send(w.env, "/.well-known/oauth-protected-resource")).status).toBe(404);
    expect((await send(w.env, "/.well-known/oauth-protected-resource/other")).status).toBe(404);
    expect(w.net.originRequests).toHaveLength(0);
    // A resource at the root publishes at the bare well-known URL.
    const root = await resourceWorld("https://gw.test/");
    expect((await send(root.env, "/.well-known/oauth-protected-resource")).status).toBe(200);
  });

  it("puts resource_metadata in every challenge, Bearer and DPoP", async () => {
    const w = await resourceWorld();
    const missing = await send(w.env, "/mcp");
    expect(missing.headers.get("WWW-Authenticate")).toBe(`Bearer realm="gw.test", resource_metadata="${METADATA}"`);
    const bad = await send(w.env, "/mcp", bearer("x.y.z"));
    expect(bad.headers.get("WWW-Authenticate")).toMatch(
      /^Bearer realm="gw\.test", error="invalid_token", error_description="[^"]*", resource_metadata="[^"]+\/mcp"$/,
    );
    const client = await DpopClient.create();
    const token = await w.idp.sign({ aud: RESOURCE, cnf: { jkt: client.jkt } });
    const noProof = await send(w.env, "/mcp", { headers: { Authorization: `DPoP ${token}` } });
    expect(noProof.headers.get("WWW-Authenticate")).toContain(`resource_metadata="${METADATA}"`);
    const ok = await send(w.env, "/mcp", dpop(token, await client.proof({ token, url: "https://gw.test/mcp" })));
    expect(ok.status).toBe(200);
  });

  it("accepts only tokens whose aud names the resource, though the issuer's audiences take others", async () => {
    const w = await resourceWorld();
    expect((await send(w.env, "/mcp", bearer(await w.idp.sign({ aud: RESOURCE })))).status).toBe(200);
    expect((await send(w.env, "/mcp", bearer(await w.idp.sign({ aud: ["other", RESOURCE] })))).status).toBe(200);
    const other = await send(w.env, "/mcp", bearer(await w.idp.sign({ aud: "api" })));
    expect(other.status).toBe(401);
    expect((await problemOf(other)).code).toBe("audience_mismatch");
  });

  it("leaves the well-known path to the origin when it is not set", async () => {
    const w = await world();
    const res = await send(w.env, "/.well-known/oauth-protected-resource", bearer(await w.idp.sign()));
    expect(res.status).toBe(200);
    expect(w.net.originRequests).toHaveLength(1);
  });
});

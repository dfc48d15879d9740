// GET /.well-known/oauth-protected-resource[/<path>]: this API's OAuth Protected Resource Metadata
// (RFC 9728), when PROTECTED_RESOURCE is set. A client that gets a 401 finds this URL in the
// challenge's `resource_metadata` and, from here, the authorization servers to get a token from: the
// discovery the MCP authorization specification asks of a protected MCP server. Public: it says what
// the configuration says, nothing about any user.
import { z } from "zod";
import { AuthError } from "../errors";
import type { AppContext } from "./context";

export const ProtectedResourceMetadataSchema = z
  .object({
    resource: z.string(),
    authorization_servers: z.array(z.string()),
    scopes_supported: z.array(z.string()).optional(),
    bearer_methods_supported: z.array(z.string()),
    resource_name: z.string().optional(),
    dpop_signing_alg_values_supported: z.array(z.string()),
  })
  .meta({ id: "ProtectedResourceMetadata" });

export function protectedResourceMetadata(c: AppContext): Response {
  const config = c.get("config");
  c.get("trace").rule = "/.well-known/oauth-protected-resource";
  const pr = config.protectedResource;
  // Only the configured resource's own URL (RFC 9728 section 3.1); any other suffix is not ours.
  if (pr === null || new URL(c.req.url).pathname.replace(/\/+$/, "") !== new URL(pr.metadataUrl).pathname)
    throw new AuthError("not_found", "No protected resource metadata here.");
  const body: z.output<typeof ProtectedResourceMetadataSchema> = {
    resource: pr.resource,
    authorization_servers: pr.authorizationServers,
    ...(pr.scopesSupported ? { scopes_supported: pr.scopesSupported } : {}),
    bearer_methods_supported: ["header"],
    ...(pr.resourceName ? { resource_name: pr.resourceName } : {}),
    dpop_signing_alg_values_supported: config.dpopAlgs.split(" "),
  };
  return c.json(body, 200, { "Cache-Control": "public, max-age=300" });
}

// Which client application calls (CLIENTS): its API key, compared by SHA-256 in constant time
// against every configured client, then its allowed Origins. Keys are never logged or echoed.
import type { ClientConfig } from "./config";
import { constantTimeEqual, sha256Hex } from "./crypto";
import { AuthError } from "./errors";

/** Longer API keys are refused unhashed: nobody's real key is this long. */
const MAX_API_KEY_LENGTH = 512;

export async function identifyClient(headers: Headers, clients: readonly ClientConfig[]): Promise<ClientConfig> {
  const key = headers.get("X-Api-Key");
  if (key === null || key === "")
    throw new AuthError("client_key_missing", "This route requires a client API key in X-Api-Key.");
  const hash = key.length > MAX_API_KEY_LENGTH ? "" : await sha256Hex(key);
  let found: ClientConfig | undefined;
  // No early exit: the time taken does not depend on which client (if any) matched.
  for (const client of clients) {
    if (constantTimeEqual(hash, client.keySha256) && !found) found = client;
  }
  if (!found) throw new AuthError("client_key_unknown", "The client API key is not recognised.");
  if (found.origins) {
    const origin = headers.get("Origin");
    if (origin === null || !found.origins.includes(origin)) {
      throw new AuthError("client_origin_forbidden", "This client application is not allowed from this Origin.");
    }
  }
  return found;
}

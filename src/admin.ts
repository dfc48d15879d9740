// Admin routes accept only the bearer tokens of ADMIN_TOKENS, each compared in constant time, every
// one of them compared (no early exit). A user's JWT is never one of them, whatever it says.
import type { Config } from "./config";
import { constantTimeEqual } from "./crypto";
import { AuthError } from "./errors";

/** Whether the request carries one of the admin tokens (for what only an operator may see). */
export function isAdmin(headers: Headers, config: Config): boolean {
  try {
    requireAdmin(headers, config);
    return true;
  } catch {
    return false;
  }
}

export function requireAdmin(headers: Headers, config: Config): void {
  const match = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i.exec(headers.get("Authorization") ?? "");
  const presented = match?.[1] ?? "";
  let ok = false;
  for (const token of config.adminTokens) {
    if (constantTimeEqual(presented, token)) ok = true;
  }
  if (!ok || presented === "") throw new AuthError("admin_unauthorized", "This route requires an admin token.");
}

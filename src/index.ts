// The Worker: routes wired to their handlers, nothing else.
import { Hono } from "hono";
import { loadConfig } from "./config";
import { AuthError } from "./errors";
import { startReceivers } from "./ssf/control";
import { openApi } from "./openapi";
import { check } from "./routes/check";
import { operatorConsole } from "./routes/console";
import { decisionLog, errorResponse, withConfig, type AppEnv } from "./routes/context";
import { backchannelLogout, securityEvent } from "./routes/events";
import { gateway } from "./routes/gateway";
import { health } from "./routes/health";
import { protectedResourceMetadata } from "./routes/protected-resource";
import { logout, revocationFeed, revocationStream, revoke } from "./routes/revocations";

export { RevocationLedger } from "./revocation/ledger";
export { RevocationHead } from "./revocation/fresh-head";
export { DpopReplay } from "./sender/replay-shard";
export { SignalReceiver } from "./ssf/receiver";

const app = new Hono<AppEnv>();

app.use("/.auth/*", decisionLog);
app.use("/.auth/*", async (c, next) => {
  // The route, for the log: fixed names only, never what a client put after /.auth/check.
  const path = new URL(c.req.url).pathname;
  c.get("trace").rule = path.startsWith("/.auth/check")
    ? "/.auth/check/*"
    : /^\/\.auth\/[a-z/.-]{1,48}$/.test(path)
      ? path
      : "/.auth/*";
  await next();
});
app.get("/.auth/health", health);
app.get("/.auth/openapi.json", openApi);
app.get("/.auth/console", operatorConsole);
app.use("/.auth/*", withConfig);
app.all("/.auth/check", check);
app.all("/.auth/check/*", check);
app.post("/.auth/revoke", revoke);
app.post("/.auth/logout", logout);
app.get("/.auth/revocations", revocationFeed);
app.get("/.auth/revocations/stream", revocationStream);
app.post("/.auth/backchannel-logout", backchannelLogout);
app.post("/.auth/events", securityEvent);
for (const path of ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/*"]) {
  app.use(path, decisionLog);
  app.get(path, withConfig, protectedResourceMetadata);
}
app.all("/.auth/*", () => {
  throw new AuthError("not_found", "No such authorizer route.");
});
app.onError(errorResponse);

/** Every path under /.auth (the routes above), as Hono's router would match it: "/.auth" or "/.auth/...". */
const AUTH_PATH = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*\/\.auth(?:[/?#]|$)/i;
/** RFC 9728's metadata paths: the authorizer's own when PROTECTED_RESOURCE is set, else the origin's. */
const METADATA_PATH = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*\/\.well-known\/oauth-protected-resource(?:[/?#]|$)/i;

/** The Worker: the authorizer's own routes through Hono, every other request straight to the gateway. */
export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    const url = request.url; // read once: each read makes a new string from the runtime's copy
    const config = loadConfig(env);
    if (!(config instanceof AuthError)) startReceivers(env, config, (p) => ctx.waitUntil(p));
    const ours =
      AUTH_PATH.test(url) ||
      (METADATA_PATH.test(url) && !(config instanceof AuthError) && config.protectedResource !== null);
    return ours ? app.fetch(request, env, ctx) : gateway(request, env, ctx, url);
  },
  /** The cron trigger: the Shared Signals receivers keep running without traffic. */
  scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext): void {
    const config = loadConfig(env);
    if (!(config instanceof AuthError)) startReceivers(env, config, (p) => ctx.waitUntil(p), true);
  },
} satisfies ExportedHandler<Env>;

/** The /.auth routes' Hono app, for tests that list them (the OpenAPI description must match them). */
export { app as authApp };

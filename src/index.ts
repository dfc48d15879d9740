// The Worker: routes wired to their handlers, nothing else.
import { Hono } from "hono";
import { AuthError } from "./errors";
import { openApi } from "./openapi";
import { problemResponse, realmOf, unexpectedErrorResponse } from "./problem";
import { check } from "./routes/check";
import { withConfig, type AppEnv } from "./routes/context";
import { backchannelLogout, securityEvent } from "./routes/events";
import { gateway } from "./routes/gateway";
import { health } from "./routes/health";
import { logout, revocationFeed, revocationStream, revoke } from "./routes/revocations";

export { RevocationLedger } from "./revocation/ledger";

const app = new Hono<AppEnv>();

app.get("/.auth/health", health);
app.get("/.auth/openapi.json", openApi);
app.use("*", withConfig);
app.all("/.auth/check", check);
app.all("/.auth/check/*", check);
app.post("/.auth/revoke", revoke);
app.post("/.auth/logout", logout);
app.get("/.auth/revocations", revocationFeed);
app.get("/.auth/revocations/stream", revocationStream);
app.post("/.auth/backchannel-logout", backchannelLogout);
app.post("/.auth/events", securityEvent);
app.all("/.auth/*", (c) => problemResponse(new AuthError("not_found", "No such authorizer route."), realmOf(c.req.raw)));
app.all("*", gateway);

app.onError((error, c) => {
  if (error instanceof AuthError) return problemResponse(error, realmOf(c.req.raw));
  console.error(JSON.stringify({ event: "unexpected_error", error: error instanceof Error ? error.name : typeof error }));
  return unexpectedErrorResponse();
});

export default app;

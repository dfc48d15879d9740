// Hono's `hono/jwk` middleware as its documentation shows it (https://hono.dev/docs/middleware/builtin/jwk):
// `jwks_uri` from the environment, the allowed algorithms, and the issuer and audience checks of its
// `verification` option; then forward with the subject as a header. With `jwks_uri` the middleware
// fetches the JWKS and imports the key on every request: that is what this target measures.
import { Hono } from "hono";
import { jwk } from "hono/jwk";

type Env = {
  Bindings: { ORIGIN_URL: string; JWKS_URI: string; ISSUER: string; AUDIENCE: string };
  Variables: { jwtPayload: { sub?: string } };
};

const app = new Hono<Env>();

app.use("*", (c, next) =>
  jwk({ jwks_uri: c.env.JWKS_URI, alg: ["ES256", "RS256"], verification: { iss: c.env.ISSUER, aud: c.env.AUDIENCE } })(
    c,
    next,
  ),
);

app.all("*", (c) => {
  const headers = new Headers(c.req.raw.headers);
  headers.set("X-Auth-Subject", c.get("jwtPayload").sub ?? "");
  const url = new URL(c.req.url);
  return fetch(new URL(url.pathname + url.search, c.env.ORIGIN_URL), new Request(c.req.raw, { headers }));
});

export default app;

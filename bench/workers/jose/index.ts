// The minimal peer: what a team writes in an afternoon with jose. A module-level remote JWKS
// (fetched once, cached by jose in the isolate), jwtVerify with issuer, audience and algorithms,
// then forward with the subject as a header. No revocation, no policy.
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from "jose";

interface Env {
  ORIGIN_URL: string;
  JWKS_URI: string;
  ISSUER: string;
  AUDIENCE: string;
}

let jwks: JWTVerifyGetKey | undefined;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    jwks ??= createRemoteJWKSet(new URL(env.JWKS_URI));
    const token = /^Bearer ([^ ]+)$/.exec(request.headers.get("Authorization") ?? "")?.[1];
    if (!token) return new Response("Unauthorized", { status: 401, headers: { "WWW-Authenticate": "Bearer" } });
    let sub: string | undefined;
    try {
      ({
        payload: { sub },
      } = await jwtVerify(token, jwks, { issuer: env.ISSUER, audience: env.AUDIENCE, algorithms: ["ES256", "RS256"] }));
    } catch {
      return new Response("Unauthorized", {
        status: 401,
        headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' },
      });
    }
    const headers = new Headers(request.headers);
    headers.set("X-Auth-Subject", sub ?? "");
    const url = new URL(request.url);
    return fetch(new URL(url.pathname + url.search, env.ORIGIN_URL), new Request(request, { headers }));
  },
} satisfies ExportedHandler<Env>;

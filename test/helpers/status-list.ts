// Status list tokens for the tests, made with an independent implementation
// (@sd-jwt/jwt-status-list: its own bit packing, pako's ZLIB) and signed with jose by the test
// issuer, so that the authorizer's reading (src/status-list/) must agree with someone else's writing.
import { createHeaderAndPayload, StatusList, type BitsPerStatus } from "@sd-jwt/jwt-status-list";
import { SignJWT, type JWTPayload } from "jose";
import type { FakeIssuer, FakeNetwork } from "./network";

export interface ListOptions {
  bits?: BitsPerStatus;
  /** Claims that replace or (null) remove the defaults (sub, iat, exp, ttl). */
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  /** Sign with this issuer's key instead (a list token by another signer). */
  signer?: FakeIssuer;
}

export async function listToken(
  idp: FakeIssuer,
  uri: string,
  statuses: number[],
  opts: ListOptions = {},
): Promise<string> {
  const list = new StatusList(statuses, opts.bits ?? 1);
  const now = Math.floor(Date.now() / 1000);
  const { header, payload } = createHeaderAndPayload(
    list,
    { iss: idp.issuer, sub: uri, iat: now, exp: now + 3600, ttl: 300 },
    { alg: "ES256", typ: "statuslist+jwt" },
  );
  const claims: Record<string, unknown> = { ...payload, ...opts.claims };
  for (const [k, v] of Object.entries(claims)) if (v === null) delete claims[k];
  const key = (opts.signer ?? idp).keys[0]!;
  return new SignJWT(claims as JWTPayload)
    .setProtectedHeader({ ...header, kid: key.kid, ...opts.header })
    .sign(key.privateKey);
}

/** Serves `token` at `uri` on the fake network, counting the fetches. */
export function serveList(net: FakeNetwork, uri: string, token: () => string | Promise<string>) {
  const served = { fetches: 0, down: false, accept: [] as (string | null)[] };
  net.served.set(uri, async (request) => {
    served.fetches++;
    served.accept.push(request.headers.get("Accept"));
    if (served.down) throw new TypeError("connection refused");
    return new Response(await token(), { headers: { "Content-Type": "application/statuslist+jwt" } });
  });
  return served;
}

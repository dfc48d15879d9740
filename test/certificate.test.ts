// Certificate-bound tokens (RFC 8705): the token's cnf["x5t#S256"] against the client certificate
// Cloudflare reports in request.cf.tlsClientAuth, by its SHA-256 fingerprint or its RFC 9440 form.
import { reset } from "cloudflare:test";
import { base64url } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, problemOf, send, world } from "./helpers/app";

afterEach(async () => {
  vi.restoreAllMocks();
  await reset();
});

/** Bytes standing in for a certificate's DER: only its hash matters to the binding. */
const DER = new TextEncoder().encode("a client certificate, DER-encoded");
const OTHER_DER = new TextEncoder().encode("another client certificate");

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

/** What Cloudflare reports for a connection that presented `der`. */
async function tlsClientAuth(der: Uint8Array, extra: Record<string, string> = {}) {
  return {
    certPresented: "1",
    certVerified: "SUCCESS",
    certRevoked: "0",
    certFingerprintSHA256: hex(await sha256(der)),
    certRFC9440: `:${btoa(String.fromCharCode(...der))}:`,
    ...extra,
  };
}

async function certWorld(vars: Record<string, unknown> = {}) {
  const w = await world({ POLICY: { routes: [{ path: "/bound/*", sender: "bound" }] }, ...vars });
  const token = await w.idp.sign({ cnf: { "x5t#S256": base64url.encode(await sha256(DER)) } });
  const withCert = (auth: unknown, path = "/x") =>
    send(w.env, path, {
      ...bearer(token),
      cf: auth === undefined ? undefined : { tlsClientAuth: auth },
    } as RequestInit);
  return { ...w, token, withCert };
}

describe("a certificate-bound token", () => {
  it("passes with its certificate, by fingerprint or by the RFC 9440 certificate", async () => {
    const w = await certWorld();
    expect((await w.withCert(await tlsClientAuth(DER))).status).toBe(200);
    const seen = w.net.originRequests[0]!.headers;
    expect(seen["x-auth-binding"]).toBe("mtls");
    expect(seen["x-auth-key-thumbprint"]).toBe(base64url.encode(await sha256(DER)));
    expect((await w.withCert(await tlsClientAuth(DER, { certFingerprintSHA256: "" }))).status).toBe(200);
    // A self-signed certificate (RFC 8705 section 2.2) by default; and on a sender "bound" route.
    expect(
      (await w.withCert(await tlsClientAuth(DER, { certVerified: "FAILED:self signed certificate" }))).status,
    ).toBe(200);
    expect((await w.withCert(await tlsClientAuth(DER), "/bound/x")).status).toBe(200);
  });

  it("is refused without a certificate, with another one, or with a revoked one, saying why", async () => {
    const w = await certWorld();
    const cases: [string, unknown, string, RegExp][] = [
      ["no mTLS", undefined, "certificate_required", /presented none/],
      ["none presented", { certPresented: "0", certVerified: "NONE" }, "certificate_required", /presented none/],
      ["another certificate", await tlsClientAuth(OTHER_DER), "certificate_mismatch", /another client certificate/],
      ["revoked", await tlsClientAuth(DER, { certRevoked: "1" }), "certificate_required", /revoked/],
      [
        "no fingerprint reported",
        await tlsClientAuth(DER, { certFingerprintSHA256: "", certRFC9440: "" }),
        "certificate_required",
        /fingerprint/,
      ],
    ];
    for (const [what, auth, code, detail] of cases) {
      const res = await w.withCert(auth);
      expect(res.status, what).toBe(401);
      const body = await problemOf(res);
      expect(body.code, what).toBe(code);
      expect(body.detail, what).toMatch(detail);
      // RFC 8705 section 3: the token is invalid for this connection, in Bearer terms.
      expect(res.headers.get("WWW-Authenticate"), what).toMatch(/^Bearer realm="gw\.test", error="invalid_token"/);
    }
    expect(w.net.originRequests).toHaveLength(0);
  });

  it("needs a verified chain when certificates.requireVerified is set", async () => {
    const w = await certWorld({ SENDER_CONSTRAINTS: { certificates: { requireVerified: true } } });
    const failed = await w.withCert(await tlsClientAuth(DER, { certVerified: "FAILED:self signed certificate" }));
    expect(failed.status).toBe(401);
    expect((await problemOf(failed)).detail).toMatch(/CA/);
    expect((await w.withCert(await tlsClientAuth(DER))).status).toBe(200);
  });

  it("is refused in forward-auth mode, where the proxy ends the TLS connection", async () => {
    const w = await certWorld();
    const res = await send(w.env, "/.auth/check/x", {
      ...bearer(w.token),
      cf: { tlsClientAuth: await tlsClientAuth(DER) },
    } as RequestInit);
    expect(res.status).toBe(401);
    expect((await problemOf(res)).detail).toMatch(/forward-auth/);
  });

  it('a bearer token is refused on a sender "bound" route even with a certificate', async () => {
    const w = await certWorld();
    const plain = await w.idp.sign();
    const res = await send(w.env, "/bound/x", {
      ...bearer(plain),
      cf: { tlsClientAuth: await tlsClientAuth(DER) },
    } as RequestInit);
    expect(res.status).toBe(401);
    expect((await problemOf(res)).code).toBe("sender_unbound");
  });
});

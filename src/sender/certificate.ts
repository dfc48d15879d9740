// Certificate-bound access tokens (RFC 8705 section 3): the token's `cnf["x5t#S256"]` must be the
// SHA-256 thumbprint of the client certificate of this TLS connection, as Cloudflare's edge saw it
// (`request.cf.tlsClientAuth`, once mTLS is turned on for the hostname). The TLS handshake proved
// that the client holds the certificate's key, so the thumbprint is the whole check; whether the
// certificate must also chain to the zone's CA is SENDER_CONSTRAINTS.certificates.requireVerified
// (RFC 8705 allows self-signed certificates, section 2.2).
import { base64url } from "jose";
import { AuthError } from "../errors";

/** What Cloudflare reports of the client's certificate; "unseen" where the authorizer is not the TLS peer (forward-auth). */
export type ClientCertificate = Partial<IncomingRequestCfPropertiesTLSClientAuth> | null | "unseen";

/** The certificate a request came with, from its `cf` properties (null without mTLS). */
export function certificateOf(request: Request): ClientCertificate {
  const auth = (request.cf as { tlsClientAuth?: ClientCertificate } | undefined)?.tlsClientAuth;
  return auth && typeof auth === "object" ? auth : null;
}

/** base64url(SHA-256(DER)) of the reported certificate: from its hex fingerprint, else from its RFC 9440 form. */
async function thumbprintOf(cert: Partial<IncomingRequestCfPropertiesTLSClientAuth>): Promise<string | null> {
  const hex = cert.certFingerprintSHA256;
  if (typeof hex === "string" && /^[0-9a-fA-F]{64}$/.test(hex)) {
    const bytes = new Uint8Array(32);
    for (let i = 0; i < 32; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    return base64url.encode(bytes);
  }
  // RFC 9440 Client-Cert: the DER, base64, between colons.
  const match = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(cert.certRFC9440 ?? "");
  if (!match) return null;
  const der = Uint8Array.from(atob(match[1]!), (c) => c.charCodeAt(0));
  return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", der)));
}

const required = (detail: string) => new AuthError("certificate_required", detail);

/** Throws unless the connection's certificate is the one the token is bound to. */
export async function checkCertificate(
  cert: ClientCertificate,
  thumbprint: string,
  requireVerified: boolean,
): Promise<void> {
  if (cert === "unseen")
    throw required(
      "The token is bound to a client certificate, which forward-auth mode cannot see: the proxy ends the TLS connection.",
    );
  if (cert === null || cert.certPresented !== "1")
    throw required("The token is bound to a client certificate and the connection presented none.");
  if (cert.certRevoked === "1") throw required("The connection's client certificate is revoked.");
  if (requireVerified && cert.certVerified !== "SUCCESS")
    throw required("The connection's client certificate does not chain to a CA this hostname trusts.");
  const presented = await thumbprintOf(cert);
  if (presented === null) throw required("The edge did not report the client certificate's fingerprint.");
  if (presented !== thumbprint)
    throw new AuthError("certificate_mismatch", "The token is bound to another client certificate than this one.");
}

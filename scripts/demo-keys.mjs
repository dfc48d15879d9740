// The demo issuer's signing key: an ES256 key pair kept in a JSON file so that the issuer process
// (which publishes the JWKS) and `npm run token` (which signs) share it. Demo only.
import { exportJWK, generateKeyPair, importJWK, SignJWT } from "jose";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

export const DEFAULT_KEY_FILE = resolve(process.env.DEMO_KEY_FILE ?? ".demo/issuer-key.json");
export const DEFAULT_ISSUER = process.env.DEMO_ISSUER ?? "http://127.0.0.1:9001";
export const DEMO_AUDIENCE = "demo-api";

/** The private JWK, generated on first use. */
export async function loadKey(file = DEFAULT_KEY_FILE) {
  if (!existsSync(file)) {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: `demo-${Date.now().toString(36)}`, alg: "ES256", use: "sig" };
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  }
  return JSON.parse(readFileSync(file, "utf8"));
}

/** @param {Record<string, unknown>} privateJwk */
export function publicJwk(privateJwk) {
  const { d: _d, ...pub } = privateJwk;
  return pub;
}

/**
 * Signs an access token for the demo issuer.
 * @param {Record<string, unknown>} claims
 * @param {{ file?: string, issuer?: string, ttlSeconds?: number, header?: Record<string, unknown> }} [options]
 */
export async function mint(
  claims,
  { file = DEFAULT_KEY_FILE, issuer = DEFAULT_ISSUER, ttlSeconds = 3600, header = {} } = {},
) {
  const jwk = await loadKey(file);
  const key = await importJWK(jwk, "ES256");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: issuer,
    aud: DEMO_AUDIENCE,
    iat: now,
    exp: now + ttlSeconds,
    jti: crypto.randomUUID(),
    ...claims,
  })
    .setProtectedHeader({ alg: "ES256", kid: jwk.kid, typ: "JWT", ...header })
    .sign(key);
}

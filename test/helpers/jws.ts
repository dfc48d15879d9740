// Signature malleability, as an attacker computes it: an ECDSA signature (r, s) also verifies as
// (r, n - s), where n is the curve's order. JWS carries ECDSA signatures as r || s (RFC 7518 3.4).
import { base64url } from "jose";

/** The order n of each JWS ECDSA curve (SEC 2 / FIPS 186-4). */
const ORDER: Record<string, bigint> = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  ES512:
    0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
};

export const ECDSA_ALGORITHMS = Object.keys(ORDER);

function toBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function toBytes(n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

/** The same token with its ECDSA signature's s replaced by n - s: another string, still valid. */
export function malleate(token: string, alg: string): string {
  const n = ORDER[alg];
  if (n === undefined) throw new Error(`not an ECDSA algorithm: ${alg}`);
  const dot = token.lastIndexOf(".");
  const signature = base64url.decode(token.slice(dot + 1));
  const half = signature.length / 2;
  const s = toBigInt(signature.slice(half));
  const twin = new Uint8Array(signature);
  twin.set(toBytes(n - s, half), half);
  return `${token.slice(0, dot + 1)}${base64url.encode(twin)}`;
}

// A DPoP client for the tests: a key pair, its RFC 7638 thumbprint (what a bound token's cnf.jkt
// names), and proofs made with jose's SignJWT, each claim overridable to break one rule at a time.
import { base64url, calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";

export interface ProofOptions {
  method?: string;
  url?: string;
  /** The access token the proof goes with (its ath); null leaves ath out. */
  token?: string | null;
  /** Claims that replace or (null) remove the defaults. */
  claims?: Record<string, unknown>;
  /** Header members that replace the defaults. */
  header?: Record<string, unknown>;
  alg?: string;
}

export class DpopClient {
  private constructor(
    readonly privateKey: CryptoKey,
    readonly publicJwk: JWK,
    readonly jkt: string,
    readonly alg: string,
  ) {}

  static async create(alg = "ES256"): Promise<DpopClient> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    return new DpopClient(privateKey, publicJwk, await calculateJwkThumbprint(publicJwk, "sha256"), alg);
  }

  /** A proof for one request; by default valid for GET https://gw.test/x with `token`. */
  async proof(opts: ProofOptions = {}): Promise<string> {
    const payload: Record<string, unknown> = {
      jti: crypto.randomUUID(),
      htm: opts.method ?? "GET",
      htu: opts.url ?? "https://gw.test/x",
      iat: Math.floor(Date.now() / 1000),
      ...(opts.token ? { ath: await ath(opts.token) } : {}),
      ...opts.claims,
    };
    for (const [k, v] of Object.entries(payload)) if (v === null) delete payload[k];
    return new SignJWT(payload)
      .setProtectedHeader({ typ: "dpop+jwt", alg: opts.alg ?? this.alg, jwk: this.publicJwk, ...opts.header })
      .sign(this.privateKey);
  }
}

export async function ath(token: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token))));
}

/** The headers of a DPoP request: the DPoP scheme and one proof. */
export function dpop(token: string, proof: string, extra: Record<string, string> = {}): RequestInit {
  return { headers: { Authorization: `DPoP ${token}`, DPoP: proof, ...extra } };
}

// Server-issued DPoP nonces (RFC 9449 section 8), stateless: a nonce is the number of a time window
// and an HMAC of it under DPOP_NONCE_SECRET, so every isolate in every location issues the same
// nonce for a window and checks any nonce without storage or a round trip. A nonce is accepted in
// its window and the next one, so it lives between one and two `nonceLifetimeSeconds`: a proof made
// with it cannot be older than that, whatever the client's clock says (section 11.1).
import { base64url } from "jose";

const encoder = new TextEncoder();
/** 128 bits of the HMAC: a guess is as hopeless as a forged proof. */
const MAC_BYTES = 16;

export class NonceIssuer {
  private readonly key: Promise<CryptoKey>;
  // Deliberate cache: the nonces of the windows asked for recently, so a request costs a Map lookup
  // and not an HMAC. Bounded to a few windows (see remember); a secret change makes a new issuer.
  private readonly byWindow = new Map<number, Promise<string>>();

  constructor(
    secret: string,
    private readonly lifetimeSeconds: number,
  ) {
    this.key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
  }

  /** The nonce to hand out now. */
  current(nowSec: number): Promise<string> {
    return this.nonceOf(this.windowOf(nowSec));
  }

  /** "current" for this window's nonce, "previous" for the last one's (still good; hand out a new one), else null. */
  async check(nonce: string, nowSec: number): Promise<"current" | "previous" | null> {
    const window = this.windowOf(nowSec);
    if (nonce === (await this.nonceOf(window))) return "current";
    if (nonce === (await this.nonceOf(window - 1))) return "previous";
    return null;
  }

  private windowOf(nowSec: number): number {
    return Math.floor(nowSec / this.lifetimeSeconds);
  }

  private nonceOf(window: number): Promise<string> {
    let nonce = this.byWindow.get(window);
    if (nonce === undefined) {
      nonce = this.sign(window);
      this.byWindow.set(window, nonce);
      if (this.byWindow.size > 4) this.byWindow.delete(this.byWindow.keys().next().value!);
    }
    return nonce;
  }

  private async sign(window: number): Promise<string> {
    const mac = await crypto.subtle.sign("HMAC", await this.key, encoder.encode(`dpop-nonce:${window}`));
    // The window in the clear only to make nonces tell apart in a log; the MAC is what is checked.
    return `${window.toString(36)}.${base64url.encode(new Uint8Array(mac).slice(0, MAC_BYTES))}`;
  }
}

/**
 * The origin's answer with the next nonce (RFC 9449 section 8.2), so that a client whose nonce is
 * about to expire gets the new one without a refusal. A WebSocket's 101 is left as it is.
 */
export function withDpopNonce(response: Response, nonce: string): Response {
  if (response.status === 101) return response;
  const out = new Response(response.body, response);
  out.headers.set("DPoP-Nonce", nonce);
  return out;
}

// GET /.auth/console: the operator console's page (src/console/page.ts), to anyone: it holds no
// data, and every call it makes needs an admin token. Its answer is locked down: a CSP that allows
// only its own inline script and style (by SHA-256) and calls to this origin (its WebSocket too),
// no framing, no caching, no sniffing, no referrer.
import { CONSOLE_PAGE, CONSOLE_SCRIPT, CONSOLE_STYLE } from "../console/page";
import type { AppContext } from "./context";

/** The CSP source of `text`: 'sha256-<base64 of its SHA-256>'. */
async function hashSource(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return `'sha256-${btoa(String.fromCharCode(...digest))}'`;
}

// Deliberate cache: the two hashes, kept once computed (the page is code, so they never change).
// Only the values are shared, never a pending promise: a request does not wait on another's work,
// which workerd would drop with that request (see src/token/jwks.ts); two first requests both hash.
let hashes: { script: string; style: string } | undefined;

/** The page's Content-Security-Policy, for a page served at `url`. */
export async function consolePolicy(url: URL): Promise<string> {
  hashes ??= { script: await hashSource(CONSOLE_SCRIPT), style: await hashSource(CONSOLE_STYLE) };
  const { script, style } = hashes;
  // 'self' covers this origin's ws:/wss: in CSP 3; the explicit source is for browsers before it.
  const socket = `${url.protocol === "https:" ? "wss:" : "ws:"}//${url.host}`;
  return [
    "default-src 'none'",
    `script-src ${script}`,
    `style-src ${style}`,
    `connect-src 'self' ${socket}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

export async function operatorConsole(c: AppContext): Promise<Response> {
  return c.body(CONSOLE_PAGE, 200, {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": await consolePolicy(new URL(c.req.url)),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
  });
}

// The operator console (GET /.auth/console): a page anyone may load, locked down by its headers, that
// holds no data, whose one script and one style are the ones its CSP allows, and whose every call is
// refused without an admin token, the stream's subprotocol credential included.
import { reset } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { CONSOLE_SCRIPT, CONSOLE_STYLE } from "../src/console/page";
import { STREAM_PROTOCOL, STREAM_TOKEN_PROTOCOL_PREFIX } from "../src/routes/revocations";
import { makeEnv, problemOf, send, world } from "./helpers/app";

afterEach(async () => {
  await reset();
});

const ADMIN = "test-admin-token-0001";
const OTHER_ADMIN = "test-admin-token-0002";

async function sha256Source(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return `'sha256-${btoa(String.fromCharCode(...digest))}'`;
}

/** The CSP as directive name -> its sources. */
function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp.split(";").map((part) => {
      const [name, ...sources] = part.trim().split(/\s+/);
      return [name!, sources];
    }),
  );
}

/** Every element's content between `<tag>` and `</tag>`. */
function contents(html: string, tag: string): string[] {
  return [...html.matchAll(new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => m[1]!);
}

const base64url = (text: string) => btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function streamWith(env: Env, protocols: string[], headers: Record<string, string> = {}): Promise<Response> {
  return send(env, "/.auth/revocations/stream", {
    headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": protocols.join(", "), ...headers },
  });
}

describe("GET /.auth/console", () => {
  it("answers anyone 200 text/html under a strict CSP, uncached, unframed, unsniffed, without referrer", async () => {
    const res = await send(makeEnv({}), "/.auth/console");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(res.headers.get("Referrer-Policy")).toBe("no-referrer");
    expect(res.headers.get("X-Frame-Options")).toBe("DENY");
    const csp = directives(res.headers.get("Content-Security-Policy")!);
    expect(csp.get("default-src")).toEqual(["'none'"]);
    expect(csp.get("frame-ancestors")).toEqual(["'none'"]);
    expect(csp.get("base-uri")).toEqual(["'none'"]);
    expect(csp.get("form-action")).toEqual(["'none'"]);
    expect(csp.get("connect-src")).toEqual(["'self'", "wss://gw.test"]);
    expect(csp.get("script-src")).toHaveLength(1);
    expect(csp.get("script-src")![0]).toMatch(/^'sha256-[A-Za-z0-9+/]{43}='$/);
    expect(csp.get("style-src")![0]).toMatch(/^'sha256-[A-Za-z0-9+/]{43}='$/);
    // Nothing else is allowed: no 'unsafe-inline', 'unsafe-eval', host or scheme source.
    expect([...csp.keys()].sort()).toEqual(
      ["base-uri", "connect-src", "default-src", "form-action", "frame-ancestors", "script-src", "style-src"].sort(),
    );
    const http = await send(makeEnv({}), "http://127.0.0.1:8787/.auth/console");
    expect(directives(http.headers.get("Content-Security-Policy")!).get("connect-src")).toEqual([
      "'self'",
      "ws://127.0.0.1:8787",
    ]);
  });

  it("has one script and one style, exactly the ones whose hashes the CSP allows, and nothing inline besides", async () => {
    const res = await send(makeEnv({}), "/.auth/console");
    const html = await res.text();
    const csp = directives(res.headers.get("Content-Security-Policy")!);
    const scripts = contents(html, "script");
    const styles = contents(html, "style");
    expect(scripts).toEqual([CONSOLE_SCRIPT]);
    expect(styles).toEqual([CONSOLE_STYLE]);
    expect(csp.get("script-src")).toEqual([await sha256Source(scripts[0]!)]);
    expect(csp.get("style-src")).toEqual([await sha256Source(styles[0]!)]);
    // A style attribute or an inline handler would need 'unsafe-hashes'; a src or href loads something.
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=|\ssrc=|\shref=|<link|<iframe|<object/i);
    // The script writes no markup from strings: every value goes through textContent.
    expect(CONSOLE_SCRIPT).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(CONSOLE_SCRIPT).toContain("textContent");
  });

  it("holds no data: no admin token, origin or issuer, whatever the configuration (even a broken one)", async () => {
    const { env, idp } = await world({ ORIGIN_URL: "https://secret-origin.internal.test" });
    const html = await (await send(env, "/.auth/console")).text();
    for (const secret of [ADMIN, OTHER_ADMIN, "secret-origin.internal.test", idp.issuer, new URL(idp.issuer).host])
      expect(html).not.toContain(secret);
    const broken = await send(makeEnv({ ISSUERS: "not json" }), "/.auth/console");
    expect(broken.status).toBe(200);
    expect(await broken.text()).toBe(html);
  });

  it("makes only calls that refuse a request without an admin token (health shows its admin field only with one)", async () => {
    const { env } = await world({ ORIGIN_URL: "https://secret-origin.internal.test" });
    const called = new Set([...CONSOLE_SCRIPT.matchAll(/"(\/\.auth\/[a-z/.-]+)/g)].map((m) => m[1]!));
    expect(called).toEqual(
      new Set(["/.auth/health", "/.auth/revocations", "/.auth/revocations/stream", "/.auth/revoke"]),
    );
    const refusedHeaders: Record<string, string>[] = [{}, { Authorization: "Bearer wrong-token-wrong-token" }];
    for (const headers of refusedHeaders) {
      const feed = await send(env, "/.auth/revocations?since=0&limit=1", { headers });
      expect(feed.status).toBe(401);
      expect((await problemOf(feed)).code).toBe("admin_unauthorized");
      const revoke = await send(env, "/.auth/revoke", {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/json" },
        body: JSON.stringify({ sub: "victim" }),
      });
      expect(revoke.status).toBe(401);
      const stream = await send(env, "/.auth/revocations/stream", { headers: { ...headers, Upgrade: "websocket" } });
      expect(stream.status).toBe(401);
      // GET /.auth/health is public by contract; what only an operator may read needs the token.
      const health = (await (await send(env, "/.auth/health", { headers })).json()) as Record<string, unknown>;
      expect(health.originUrl).toBeUndefined();
    }
    const asAdmin = await send(env, "/.auth/health", { headers: { Authorization: `Bearer ${ADMIN}` } });
    expect(((await asAdmin.json()) as Record<string, unknown>).originUrl).toBe("https://secret-origin.internal.test");
    // Nothing was revoked by the refused calls.
    const feed = await send(env, "/.auth/revocations", { headers: { Authorization: `Bearer ${ADMIN}` } });
    expect(((await feed.json()) as { events: unknown[] }).events).toEqual([]);
  });
});

describe("the stream's subprotocol credential (what a browser can send)", () => {
  it("opens with the admin token offered as a subprotocol, selecting the stream's protocol, never the token's", async () => {
    const { env } = await world();
    const res = await streamWith(env, [STREAM_PROTOCOL, STREAM_TOKEN_PROTOCOL_PREFIX + base64url(OTHER_ADMIN)]);
    expect(res.status).toBe(101);
    expect(res.headers.get("Sec-WebSocket-Protocol")).toBe(STREAM_PROTOCOL);
    const ws = res.webSocket!;
    const frame = new Promise<{ seq: number; revocation: { value: string } }>((resolve) =>
      ws.addEventListener("message", (m) => resolve(JSON.parse(m.data as string))),
    );
    ws.accept();
    const revoked = await send(env, "/.auth/revoke", {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ sub: "<img src=x onerror=alert(1)>" }),
    });
    expect(revoked.status).toBe(200);
    expect((await frame).revocation.value).toBe("<img src=x onerror=alert(1)>");
    ws.close(1000, "done");
  });

  it("refuses a wrong, malformed, doubled or lone token subprotocol with 401", async () => {
    const { env } = await world();
    const good = STREAM_TOKEN_PROTOCOL_PREFIX + base64url(ADMIN);
    const refused = [
      [STREAM_PROTOCOL, STREAM_TOKEN_PROTOCOL_PREFIX + base64url("wrong-token-wrong-token")],
      [STREAM_PROTOCOL, STREAM_TOKEN_PROTOCOL_PREFIX + base64url(`${ADMIN} x`)],
      [STREAM_PROTOCOL, STREAM_TOKEN_PROTOCOL_PREFIX + "A"],
      [STREAM_PROTOCOL, STREAM_TOKEN_PROTOCOL_PREFIX + ADMIN.replace(/-/g, "+")],
      [STREAM_PROTOCOL, STREAM_TOKEN_PROTOCOL_PREFIX + "A".repeat(4096)],
      [STREAM_PROTOCOL, good, STREAM_TOKEN_PROTOCOL_PREFIX + base64url(OTHER_ADMIN)],
      [good], // without the stream's protocol there is none to select but the token's
      [STREAM_PROTOCOL],
    ];
    for (const protocols of refused) {
      const res = await streamWith(env, protocols);
      expect(res.status, protocols.join(", ")).toBe(401);
      expect((await problemOf(res)).code).toBe("admin_unauthorized");
    }
  });

  it("lets Authorization decide when both are sent, and selects the protocol when it is offered", async () => {
    const { env } = await world();
    const wrongHeader = await streamWith(env, [STREAM_PROTOCOL, STREAM_TOKEN_PROTOCOL_PREFIX + base64url(ADMIN)], {
      Authorization: "Bearer wrong-token-wrong-token",
    });
    expect(wrongHeader.status).toBe(401);
    const header = await streamWith(env, [STREAM_PROTOCOL], { Authorization: `Bearer ${ADMIN}` });
    expect(header.status).toBe(101);
    expect(header.headers.get("Sec-WebSocket-Protocol")).toBe(STREAM_PROTOCOL);
    header.webSocket!.accept();
    header.webSocket!.close(1000, "done");
    // Without Upgrade a good subprotocol token is told 426, as the header's is: how the page learns why.
    const plain = await send(env, "/.auth/revocations/stream", {
      headers: { "Sec-WebSocket-Protocol": `${STREAM_PROTOCOL}, ${STREAM_TOKEN_PROTOCOL_PREFIX}${base64url(ADMIN)}` },
    });
    expect(plain.status).toBe(426);
  });
});

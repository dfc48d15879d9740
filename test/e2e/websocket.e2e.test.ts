// A WebSocket through the authorizer under `wrangler dev`: the handshake is judged like any request,
// and an approved one reaches a WebSocket origin (here a `ws` echo server in this process, on a free
// 127.0.0.1 port) with its Upgrade intact and the identity headers set.
import { createRequire } from "node:module";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mint } from "../../scripts/demo-keys.mjs";
import { freePort, startStack, type Stack } from "./harness";

// `ws` (a dependency of miniflare) ships no types and @types/ws is not installed: load it through
// require and type the little used here.
interface WsSocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number): void;
  terminate(): void;
  on(event: "open" | "close", listener: () => void): this;
  on(event: "message", listener: (data: Buffer) => void): this;
  on(event: "error", listener: (err: Error) => void): this;
  on(event: "unexpected-response", listener: (req: unknown, res: IncomingMessage) => void): this;
}
interface WsServer {
  readonly clients: Set<WsSocket>;
  on(event: "connection", listener: (socket: WsSocket, req: IncomingMessage) => void): this;
  on(event: "listening", listener: () => void): this;
  on(event: "error", listener: (err: Error) => void): this;
  close(callback?: (err?: Error) => void): void;
}
const ws = createRequire(import.meta.url)("ws") as {
  WebSocket: { new (url: string, options?: { headers?: Record<string, string> }): WsSocket; readonly OPEN: number };
  WebSocketServer: new (options: { host: string; port: number }) => WsServer;
};

const STALENESS_SECONDS = 2;
const WAIT_MS = 5_000;

/** The origin: echoes every text frame, and keeps the headers of each handshake it accepted. */
const handshakes: IncomingHttpHeaders[] = [];
let origin: WsServer;
let stack: Stack;
const clients: WsSocket[] = [];

beforeAll(async () => {
  const port = await freePort();
  origin = new ws.WebSocketServer({ host: "127.0.0.1", port });
  origin.on("connection", (socket, req) => {
    handshakes.push(req.headers);
    socket.on("message", (data) => socket.send(`echo:${data.toString()}`));
  });
  await new Promise<void>((resolve, reject) => {
    origin.on("listening", resolve);
    origin.on("error", reject);
  });
  stack = await startStack({
    ORIGIN_URL: `http://127.0.0.1:${port}`,
    REVOCATION_MAX_STALENESS_SECONDS: String(STALENESS_SECONDS),
    POLICY: JSON.stringify({ routes: [{ path: "/strict/*", revocation: "strict" }] }),
  });
});

afterAll(async () => {
  for (const c of clients) c.terminate();
  if (origin) {
    for (const c of origin.clients) c.terminate();
    await new Promise<void>((resolve) => origin.close(() => resolve()));
  }
  await stack?.stop();
});

const token = (claims: Record<string, unknown>) =>
  mint(claims, { file: stack.keyFile, issuer: stack.issuer }) as Promise<string>;
const wsUrl = (path: string) => `${stack.gateway.replace("http", "ws")}${path}`;

/** Rejects after `ms` unless `p` settled first. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

type Handshake = { open: true; socket: WsSocket } | { open: false; status: number; headers: IncomingHttpHeaders };

/** Opens a WebSocket through the authorizer: the open socket, or the status a refused handshake got. */
function connect(path: string, headers: Record<string, string> = {}): Promise<Handshake> {
  const socket = new ws.WebSocket(wsUrl(path), { headers });
  clients.push(socket);
  return within(
    new Promise<Handshake>((resolve, reject) => {
      socket.on("open", () => resolve({ open: true, socket }));
      socket.on("unexpected-response", (_req, res) => {
        resolve({ open: false, status: res.statusCode ?? 0, headers: res.headers });
        res.resume();
        socket.terminate();
      });
      socket.on("error", reject);
    }),
    WAIT_MS,
    `handshake for ${path}`,
  );
}

async function opened(path: string, headers: Record<string, string>): Promise<WsSocket> {
  const h = await connect(path, headers);
  if (!h.open)
    throw new Error(
      `handshake for ${path} refused with ${h.status}: ${JSON.stringify(h.headers)}\n${stack.gatewayOutput().slice(-2000)}`,
    );
  return h.socket;
}

/** Sends `text` and waits for the next frame the origin echoes back. */
function echo(socket: WsSocket, text: string): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      socket.on("message", (data) => resolve(data.toString()));
      socket.on("close", () => reject(new Error("closed before the echo")));
      socket.send(text);
    }),
    WAIT_MS,
    `echo of ${text}`,
  );
}

describe("WebSockets through the authorizer under wrangler dev", () => {
  it("passes an authorized handshake to the origin, which echoes messages both ways with the caller's identity", async () => {
    const before = handshakes.length;
    const t = await token({ sub: "alice" });
    const socket = await opened("/ws", { Authorization: `Bearer ${t}`, "X-Auth-Subject": "mallory" });
    expect(handshakes.length).toBe(before + 1);
    const seen = handshakes.at(-1)!;
    expect(seen.upgrade?.toLowerCase()).toBe("websocket");
    expect(seen["x-auth-subject"]).toBe("alice"); // the client's own X-Auth-Subject replaced, not kept
    expect(await echo(socket, "hello")).toBe("echo:hello");
    expect(await echo(socket, "second")).toBe("echo:second");
    socket.close();
  });

  it("answers 401 to a handshake without a token, which never reaches the origin", async () => {
    const before = handshakes.length;
    const h = await connect("/ws");
    expect(h.open).toBe(false);
    expect(h.open ? 0 : h.status).toBe(401);
    expect(h.open ? undefined : h.headers["www-authenticate"]).toMatch(/^Bearer /);
    expect(handshakes.length).toBe(before);
  });

  it("keeps a socket that was open when its token is revoked, and refuses a new handshake with that token", async () => {
    const t = await token({ sub: "bob" });
    const socket = await opened("/strict/ws", { Authorization: `Bearer ${t}` });
    expect(await echo(socket, "before")).toBe("echo:before");

    const res = await fetch(`${stack.gateway}/.auth/revoke`, {
      method: "POST",
      headers: { Authorization: `Bearer ${stack.adminToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ token: t }),
    });
    expect(res.status).toBe(200);

    // Revocation is judged at the handshake: a new one with the revoked token is refused at once on a
    // strict route and never reaches the origin...
    const before = handshakes.length;
    const again = await connect("/strict/ws", { Authorization: `Bearer ${t}` });
    expect(again.open ? 101 : again.status).toBe(401);
    expect(handshakes.length).toBe(before);

    // ...while the socket already open stays open, past the staleness bound too, until a side closes it.
    await new Promise((r) => setTimeout(r, STALENESS_SECONDS * 1000 + 500));
    expect(socket.readyState).toBe(ws.WebSocket.OPEN);
    expect(await echo(socket, "after")).toBe("echo:after");
    socket.close();
  });
});

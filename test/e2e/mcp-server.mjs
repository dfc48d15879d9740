// A demo MCP server for the end-to-end test of PROTECTED_RESOURCE: the MCP SDK's Streamable HTTP
// server transport (stateful: one session per `initialize`) at /mcp, with two tools. It checks no
// token itself: it is the origin behind the authorizer, and trusts the identity headers the
// authorizer forwards (X-Auth-*), which is what `whoami` returns.
//
// Usage: node test/e2e/mcp-server.mjs --port 9200
// Prints `listening on <port>` when ready, and one JSON line per HTTP request it serves
// (`mcp.request`: method, JSON-RPC methods, session, the forwarded subject), so a test can tell which
// requests reached it.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { json } from "node:stream/consumers";
import { parseArgs } from "node:util";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const { values } = parseArgs({ options: { port: { type: "string", default: "9200" } } });
const port = Number(values.port);

/** @param {Record<string, string | string[] | undefined>} headers @param {string} name */
const header = (headers, name) => {
  const v = headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
};

/** A new MCP server (one per session): `whoami` and `add`. */
function mcpServer() {
  const server = new McpServer({ name: "edge-authorizer-e2e-mcp", version: "1.0.0" });
  server.registerTool(
    "whoami",
    { description: "Who the authorizer says is calling (its X-Auth-* headers)." },
    async (extra) => {
      const h = extra.requestInfo?.headers ?? {};
      const identity = {
        subject: header(h, "x-auth-subject"),
        issuer: header(h, "x-auth-issuer"),
        scopes: header(h, "x-auth-scopes"),
        tokenId: header(h, "x-auth-token-id"),
      };
      return { content: [{ type: "text", text: JSON.stringify(identity) }], structuredContent: identity };
    },
  );
  server.registerTool(
    "add",
    { description: "a + b", inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: "text", text: String(a + b) }] }),
  );
  return server;
}

/** The transports of the open sessions, by session id. */
/** @type {Map<string, StreamableHTTPServerTransport>} */
const sessions = new Map();

/** @param {import("node:http").ServerResponse} res @param {number} status @param {string} message */
const rpcError = (res, status, message) =>
  res
    .writeHead(status, { "Content-Type": "application/json" })
    .end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));

/** @param {import("node:http").IncomingMessage} req @param {import("node:http").ServerResponse} res */
async function handle(req, res) {
  const path = new URL(req.url ?? "/", "http://x").pathname;
  const sessionId = header(req.headers, "mcp-session-id");
  const body = req.method === "POST" ? await json(req) : undefined;
  const messages = Array.isArray(body) ? body : body === undefined ? [] : [body];
  console.log(
    JSON.stringify({
      event: "mcp.request",
      method: req.method,
      path,
      rpc: messages.map((m) => (m && typeof m === "object" && "method" in m ? m.method : "response")),
      session: sessionId ?? null,
      subject: header(req.headers, "x-auth-subject") ?? null,
      at: Date.now(),
    }),
  );
  if (path !== "/mcp") return rpcError(res, 404, "not found");
  const known = sessionId !== undefined ? sessions.get(sessionId) : undefined;
  if (known) return known.handleRequest(req, res, body);
  if (sessionId !== undefined) return rpcError(res, 404, "unknown session");
  if (req.method !== "POST" || !isInitializeRequest(body)) return rpcError(res, 400, "no session");
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (id) => void sessions.set(id, transport),
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
  };
  await mcpServer().connect(transport);
  return transport.handleRequest(req, res, body);
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error("request failed", err);
    if (!res.headersSent) rpcError(res, 500, String(err?.message ?? err));
    else res.end();
  });
});
server.listen(port, "127.0.0.1", () => console.log(`listening on ${port} (MCP at /mcp)`));
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, () => {
    for (const t of sessions.values()) void t.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });

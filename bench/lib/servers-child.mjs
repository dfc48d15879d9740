// The benchmark's origin or issuer, each in a process of its own (forked by servers.mjs with an IPC
// channel), so that neither shares an event loop with the load generator. Listens on a free
// 127.0.0.1 port and reports it; answers {type:"stats"} with its counters.
//
//   origin  a small JSON answer to every request; counts requests and any that arrive carrying a
//           spoofed X-Auth-Subject (a value starting with "spoofed-", as the probe sends).
//   issuer  OpenID discovery and the JWKS the parent sends; counts JWKS fetches per path label
//           (/jwks/<label>.json), so each target's fetches are told apart.
import { createServer } from "node:http";

const role = process.argv[2];
if (role !== "origin" && role !== "issuer") throw new Error(`unknown role ${role}`);
if (!process.send) throw new Error("run me with fork() (an IPC channel is needed)");
const send = /** @type {(message: unknown) => void} */ (process.send.bind(process));

const counts = { requests: 0, spoofed: 0 };
/** @type {Record<string, number>} */
const jwksFetches = {};
/** @type {string} */
let jwksBody = '{"keys":[]}';
let issuer = "";

const server = createServer((req, res) => {
  counts.requests++;
  if (role === "origin") {
    const subject = req.headers["x-auth-subject"];
    if (typeof subject === "string" && subject.startsWith("spoofed-")) counts.spoofed++;
    req.resume();
    req.on("end", () => {
      const body = JSON.stringify({ ok: true, subject: subject ?? null });
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
      res.end(body);
    });
    return;
  }
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  req.resume();
  const json = (
    /** @type {number} */ status,
    /** @type {string} */ body,
    /** @type {Record<string, string>} */ headers = {},
  ) => {
    res.writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": String(Buffer.byteLength(body)),
      ...headers,
    });
    res.end(body);
  };
  if (path === "/.well-known/openid-configuration") {
    return json(200, JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks/discovery.json` }));
  }
  const m = /^\/jwks\/([A-Za-z0-9_-]{1,64})\.json$/.exec(path);
  if (m) {
    const label = /** @type {string} */ (m[1]);
    jwksFetches[label] = (jwksFetches[label] ?? 0) + 1;
    return json(200, jwksBody, { "Cache-Control": "max-age=300" });
  }
  json(404, '{"error":"not_found"}');
});
server.keepAliveTimeout = 30_000;

process.on("message", (/** @type {any} */ message) => {
  if (message?.type === "jwks") {
    jwksBody = JSON.stringify(message.jwks);
    send({ type: "jwks-set" });
  } else if (message?.type === "stats") {
    send({ type: "stats", id: message.id, stats: { ...counts, jwksFetches: { ...jwksFetches } } });
  }
});
process.on("disconnect", () => process.exit(0));

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  issuer = `http://127.0.0.1:${port}`;
  send({ type: "ready", port });
});

// A demo origin that echoes what it receives (method, raw path, headers, body size) as JSON, so you
// can see exactly what the authorizer forwards. Usage: node scripts/demo-origin.mjs [--port 9002]
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string", default: "9002" } } });
const port = Number(values.port);

const server = createServer((req, res) => {
  const hash = createHash("sha256");
  let bytes = 0;
  req.on("data", (chunk) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on("end", () => {
    const body = {
      method: req.method,
      path: req.url,
      headers: req.headers,
      bodyBytes: bytes,
      bodySha256: hash.digest("hex"),
    };
    res.writeHead(200, { "Content-Type": "application/json", "X-Demo-Origin": "echo" });
    res.end(JSON.stringify(body, null, 2) + "\n");
  });
});
server.listen(port, "127.0.0.1", () => console.log(`demo origin  http://127.0.0.1:${port}  (echoes every request)`));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));

// A demo OpenID issuer: serves /.well-known/openid-configuration and its JWKS on 127.0.0.1.
// Usage: node scripts/demo-issuer.mjs [--port 9001] [--key-file .demo/issuer-key.json]
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { DEFAULT_KEY_FILE, loadKey, publicJwk } from "./demo-keys.mjs";

const { values } = parseArgs({
  options: { port: { type: "string", default: "9001" }, "key-file": { type: "string", default: DEFAULT_KEY_FILE } },
});
const port = Number(values.port);
const issuer = `http://127.0.0.1:${port}`;
const jwk = publicJwk(await loadKey(values["key-file"]));

const server = createServer((req, res) => {
  const path = new URL(req.url ?? "/", issuer).pathname;
  /** @param {number} status @param {unknown} body @param {Record<string, string>} headers */
  const send = (status, body, headers = {}) => {
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
  if (path === "/.well-known/openid-configuration") {
    return send(200, { issuer, jwks_uri: `${issuer}/jwks.json`, id_token_signing_alg_values_supported: ["ES256"] });
  }
  if (path === "/jwks.json") return send(200, { keys: [jwk] }, { "Cache-Control": "max-age=300" });
  send(404, { error: "not_found" });
});
server.listen(port, "127.0.0.1", () => console.log(`demo issuer  ${issuer}  (kid ${jwk.kid})`));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));

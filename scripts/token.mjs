// Mints a demo access token from the demo issuer's key and prints it.
// npm run -s token -- --sub alice --scope "read write" --roles buyer --sid s1 --ttl 3600
import { parseArgs } from "node:util";
import { mint } from "./demo-keys.mjs";

const { values } = parseArgs({
  options: {
    sub: { type: "string", default: "alice" },
    scope: { type: "string" },
    roles: { type: "string" },
    sid: { type: "string" },
    email: { type: "string" },
    aud: { type: "string" },
    ttl: { type: "string", default: "3600" },
    claims: { type: "string" },
  },
});
/** @type {Record<string, unknown>} */
const claims = { sub: values.sub };
if (values.scope) claims.scope = values.scope;
if (values.roles) claims.roles = values.roles.split(",");
if (values.sid) claims.sid = values.sid;
if (values.email) claims.email = values.email;
if (values.aud) claims.aud = values.aud;
if (values.claims) Object.assign(claims, JSON.parse(values.claims));
process.stdout.write((await mint(claims, { ttlSeconds: Number(values.ttl) })) + "\n");

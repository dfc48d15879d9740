// The API description: it lists exactly the /.auth/* routes the Worker serves, and real responses
// of each route, approvals and denials, match the status codes and schemas it documents.
import { Validator, type Schema } from "@cfworker/json-schema";
import { reset } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { authApp as app } from "../src/index";
import { bearer, makeEnv, send, world } from "./helpers/app";

afterEach(async () => {
  vi.restoreAllMocks();
  await reset();
});

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: Schema }>; headers?: Record<string, unknown> }>;
  requestBody?: { content: Record<string, { schema: Schema }> };
}
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

let doc: Doc;
beforeAll(async () => {
  const res = await send(makeEnv({}), "/.auth/openapi.json");
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
});

/** A validator for a schema of the document, its component references resolved within it. */
function validatorOf(schema: Schema): Validator {
  const withDefs = JSON.parse(
    JSON.stringify({ ...schema, $defs: doc.components.schemas }).replaceAll("#/components/schemas/", "#/$defs/"),
  );
  return new Validator(withDefs, "2020-12", false);
}

function operationOf(path: string, method: string): Operation | undefined {
  for (const [template, item] of Object.entries(doc.paths)) {
    const pattern = new RegExp(
      "^" +
        template
          .replace(/[.]/g, "\\.")
          .replace(/\{path\}/, ".*")
          .replace(/\{[^}]+\}/g, "[^/]+") +
        "$",
    );
    if (pattern.test(path)) return item[method.toLowerCase()];
  }
  return undefined;
}

/** Sends a request and checks its answer against the document: a documented status, a valid body. */
async function conforms(env: Env, path: string, init: RequestInit = {}): Promise<number> {
  const response = await send(env, path, init);
  const operation = operationOf(new URL(path, "https://x").pathname, init.method ?? "GET");
  expect(operation, `${init.method ?? "GET"} ${path} is documented`).toBeDefined();
  const documented = operation!.responses[String(response.status)];
  expect(documented, `${path} answered ${response.status}, which is documented`).toBeDefined();
  const type = response.headers.get("Content-Type")?.split(";")[0];
  if (documented!.content === undefined) {
    expect(await response.text()).toBe("");
  } else {
    expect(Object.keys(documented!.content)).toContain(type);
    const result = validatorOf(documented!.content[type!]!.schema).validate(await response.json());
    expect(result.errors, `${path} ${response.status} body`).toEqual([]);
  }
  for (const name of Object.keys(documented!.headers ?? {})) {
    if (name.startsWith("X-Auth-") && response.headers.has(name)) expect(response.headers.get(name)).not.toBe("");
  }
  return response.status;
}

describe("GET /.auth/openapi.json", () => {
  it("is OpenAPI 3.1 and describes exactly the /.auth/* routes the Worker serves", () => {
    expect(doc.openapi).toBe("3.1.0");
    const served = new Set(
      app.routes
        .filter((r) => r.path.startsWith("/.auth/") && r.path !== "/.auth/*" && r.method !== "ALL")
        .map((r) => `${r.method} ${r.path}`),
    );
    const documented = new Set(
      Object.entries(doc.paths)
        .filter(([path]) => !path.startsWith("/.auth/check"))
        .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`)),
    );
    expect(documented).toEqual(served);
    // The forward-auth route answers every method, and so does its description.
    expect(app.routes.some((r) => r.path === "/.auth/check/*" && r.method === "ALL")).toBe(true);
    expect(Object.keys(doc.paths["/.auth/check/{path}"]!).sort()).toEqual([
      "delete",
      "get",
      "head",
      "options",
      "patch",
      "post",
      "put",
    ]);
  });

  it("documents the revoke body with the schema that validates it", () => {
    const body = validatorOf(doc.paths["/.auth/revoke"]!.post!.requestBody!.content["application/json"]!.schema);
    for (const ok of [{ jti: "j", exp: 1 }, { token: "t" }, { sub: "s", iss: "https://i" }, { sid: "x" }])
      expect(body.validate(ok).valid).toBe(true);
    for (const bad of [{}, { jti: "j" }, { sub: "s", extra: 1 }, { sid: "" }, []])
      expect(body.validate(bad).valid).toBe(false);
  });
});

describe("real responses match the description", () => {
  const ADMIN = { Authorization: "Bearer test-admin-token-0001", "Content-Type": "application/json" };

  it("for every route, approvals and denials", async () => {
    const w = await world({ POLICY: { routes: [{ path: "/admin/*", require: { scopes: ["admin"] } }] } });
    const { env, idp } = w;
    const token = await idp.sign({ sub: "alice", sid: "s-1", scope: "read", roles: ["buyer"], email: "a@x.test" });
    const statuses: number[] = [];
    const run = async (path: string, init?: RequestInit) => statuses.push(await conforms(env, path, init));

    await run("/.auth/health");
    await run("/.auth/openapi.json");
    await run("/.auth/check/orders/1", bearer(token));
    await run("/.auth/check/orders/1");
    await run("/.auth/check/admin/x", bearer(token));
    await run("/.auth/check/x", bearer(token, { "X-Forwarded-Uri": "ftp://nope" }));
    await run("/.auth/check/", { method: "POST", headers: { "X-Forwarded-Uri": "/.auth/revoke" } });
    await run("/.auth/revoke", { method: "POST", headers: ADMIN, body: JSON.stringify({ sub: "bob" }) });
    await run("/.auth/revoke", { method: "POST", headers: ADMIN, body: "{" });
    await run("/.auth/revoke", {
      method: "POST",
      headers: { ...ADMIN, "Idempotency-Key": "k-1" },
      body: JSON.stringify({ sub: "carol" }),
    });
    await run("/.auth/revoke", {
      method: "POST",
      headers: { ...ADMIN, "Idempotency-Key": "k-1" },
      body: JSON.stringify({ sub: "dave" }),
    });
    await run("/.auth/revoke", { method: "POST", body: "{}" });
    await run("/.auth/revoke", { method: "POST", headers: ADMIN, body: "x".repeat(17 * 1024) });
    await run("/.auth/revocations?since=0&limit=10", { headers: ADMIN });
    await run("/.auth/revocations?since=-1", { headers: ADMIN });
    await run("/.auth/revocations");
    await run("/.auth/revocations/stream", { headers: ADMIN });
    await run("/.auth/revocations/stream?since=x", { headers: { ...ADMIN, Upgrade: "websocket" } });
    await run("/.auth/revocations/stream");
    await run("/.auth/logout?scope=everything", { method: "POST", ...bearer(token) });
    await run("/.auth/logout", { method: "POST" });
    await run("/.auth/logout?scope=session", { method: "POST", ...bearer(token) });
    const down = await world();
    down.idp.mode = "down";
    statuses.push(await conforms(down.env, "/.auth/check/orders/1", bearer(await down.idp.sign({ sub: "carol" }))));
    expect(new Set(statuses)).toEqual(new Set([200, 204, 400, 401, 403, 404, 413, 422, 426, 503]));

    const broken = makeEnv({ ISSUERS: "not json" });
    expect(await conforms(broken, "/.auth/health")).toBe(500);
    expect(await conforms(broken, "/.auth/revoke", { method: "POST", headers: ADMIN, body: "{}" })).toBe(500);
  });

  it("for the stream's upgrade", async () => {
    const env = makeEnv({});
    const res = await send(env, "/.auth/revocations/stream?since=0", {
      headers: { Authorization: "Bearer test-admin-token-0001", Upgrade: "websocket" },
    });
    expect(operationOf("/.auth/revocations/stream", "GET")!.responses[String(res.status)]).toBeDefined();
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    res.webSocket!.close(1000, "done");
  });
});

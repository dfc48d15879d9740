// Env vars -> one validated, typed Config, once per isolate. Each var may be a JSON value or a
// string that holds JSON (so `wrangler dev --var NAME:VALUE` can override any of them). A bad var is
// reported by name, never by value, since some of them (ADMIN_TOKENS) are secrets.
import { z } from "zod";
import { AuthError } from "./errors";
import {
  MAX_CLIENTS,
  MAX_ISSUERS,
  MAX_POLICY_ROUTES,
  STATUS_LIST_DEFAULT_MAX_TTL_SECONDS,
  STATUS_LIST_DEFAULT_MIN_TTL_SECONDS,
} from "./constants";
import { IDENTITY_HEADERS } from "./identity-headers";
import { compilePattern, type MatchReadings, type PathPattern } from "./path";

export const ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;
export type Algorithm = (typeof ALGORITHMS)[number];
export const DEFAULT_ALGORITHMS: Algorithm[] = ["RS256", "ES256", "EdDSA"];
/**
 * What a client may sign its DPoP proofs with, by default: what the clients of Keycloak, Auth0, Okta
 * and oidc-provider use (ES256 first, which panva's libraries default to). A proof is the client's,
 * not the issuer's, so this list is apart from `algorithms`.
 */
export const DEFAULT_DPOP_ALGORITHMS: Algorithm[] = ["ES256", "ES384", "EdDSA", "Ed25519", "RS256", "PS256"];

const httpUrl = z
  .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
  .refine((u) => !u.includes("#"), "must not have a fragment");
/** The request's path and query are appended to it, so it may have a path but no query. */
const originUrl = httpUrl.refine((u) => !u.includes("?"), "must not have a query");

/** RFC 9110 token characters: what a header name may hold. */
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, "must be a valid header name");
/** Headers a claim mapping must not overwrite: routing, credentials, framing, and our own identity headers. */
const RESERVED_HEADERS = new Set([
  "host",
  "authorization",
  "x-api-key",
  "cookie",
  "content-length",
  "content-type",
  "content-encoding",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "upgrade",
  "proxy-authorization",
  "dpop",
  ...Object.keys(IDENTITY_HEADERS).map((h) => h.toLowerCase()),
]);

/**
 * Identity headers of other gateways' conventions, which origins built behind those gateways trust:
 * oauth2-proxy and Traefik/nginx forward-auth (X-Forwarded-*), Apache and Authelia (Remote-*),
 * Kubernetes' authenticating proxy (X-Remote-*), Grafana, Kong, AWS ALB, Google IAP, Azure App
 * Service, Cloudflare Access's plain email header, Envoy's client certificate header. Removed from
 * every client request by default (FOREIGN_IDENTITY_HEADERS replaces the list).
 */
export const DEFAULT_FOREIGN_IDENTITY_HEADERS = [
  "X-Forwarded-User",
  "X-Forwarded-Email",
  "X-Forwarded-Groups",
  "X-Forwarded-Preferred-Username",
  "X-Forwarded-Access-Token",
  "Remote-User",
  "Remote-Email",
  "Remote-Groups",
  "Remote-Name",
  "X-Remote-User",
  "X-Remote-Group",
  "X-User",
  "X-Email",
  "X-Authenticated-User",
  "X-Authenticated-Userid",
  "X-WebAuth-User",
  "X-Consumer-Id",
  "X-Consumer-Username",
  "X-Consumer-Custom-Id",
  "X-Credential-Identifier",
  "X-Anonymous-Consumer",
  "X-Userinfo",
  "X-Amzn-Oidc-Data",
  "X-Amzn-Oidc-Identity",
  "X-Amzn-Oidc-Accesstoken",
  "X-Goog-Authenticated-User-Email",
  "X-Goog-Authenticated-User-Id",
  "X-MS-Client-Principal",
  "X-MS-Client-Principal-Id",
  "X-MS-Client-Principal-Name",
  "X-MS-Client-Principal-Idp",
  "Cf-Access-Authenticated-User-Email",
  "X-Forwarded-Client-Cert",
  // prefixes: Kubernetes' X-Remote-Extra-<key>, Pomerium's claim headers, authentik's
  "X-Remote-Extra-*",
  "X-Pomerium-Claim-*",
  "X-authentik-*",
];

/** Headers no strip list may name: without them the request cannot be forwarded as it was sent. */
const FRAMING_HEADERS = new Set([
  "host",
  "content-length",
  "content-type",
  "content-encoding",
  "transfer-encoding",
  "upgrade",
]);

export const IssuerSchema = z
  .strictObject({
    issuer: z.string().min(1).max(2048),
    jwksUri: httpUrl.optional(),
    audiences: z.array(z.string().min(1).max(2048)).min(1).max(50),
    algorithms: z.array(z.enum(ALGORITHMS)).min(1).max(ALGORITHMS.length).default(DEFAULT_ALGORITHMS),
    logoutAudiences: z.array(z.string().min(1).max(2048)).max(50).optional(),
    dpopAlgorithms: z.array(z.enum(ALGORITHMS)).min(1).max(ALGORITHMS.length).default(DEFAULT_DPOP_ALGORITHMS),
    /** Token Status List: true, or where lists may be fetched from and how long they may be cached. */
    statusLists: z
      .union([
        z.boolean(),
        z
          .strictObject({
            hosts: z
              .array(
                z.string().regex(/^[A-Za-z0-9.-]{1,253}(?::\d{1,5})?$/, "must be a host name, with a port if not 443"),
              )
              .min(1)
              .max(20)
              .optional(),
            minTtlSeconds: z.number().int().min(10).max(86_400).optional(),
            maxTtlSeconds: z.number().int().min(10).max(86_400).optional(),
          })
          .refine(
            (s) =>
              (s.minTtlSeconds ?? STATUS_LIST_DEFAULT_MIN_TTL_SECONDS) <=
              (s.maxTtlSeconds ?? STATUS_LIST_DEFAULT_MAX_TTL_SECONDS),
            "minTtlSeconds must not exceed maxTtlSeconds",
          ),
      ])
      .optional(),
  })
  .refine((i) => i.jwksUri !== undefined || /^https?:\/\//.test(i.issuer), {
    error: "without jwksUri, issuer must be an http(s) URL (its /.well-known/openid-configuration is read)",
  })
  .refine(
    (i) =>
      !i.statusLists || (i.statusLists !== true && i.statusLists.hosts !== undefined) || /^https?:\/\//.test(i.issuer),
    { error: "statusLists without hosts needs an issuer that is an http(s) URL (its host serves the lists)" },
  );

const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "must be one scope token (no spaces)");

export const RequireSchema = z.strictObject({
  scopes: z.array(scopeToken).max(50).optional(),
  roles: z.array(z.string().min(1).max(256)).min(1).max(50).optional(),
  claims: z.record(z.string().min(1).max(256), z.union([z.string(), z.number(), z.boolean()])).optional(),
});
export type Require = z.output<typeof RequireSchema>;

/** What a token must carry to end more than itself at POST /.auth/logout; false: never. */
const LogoutRequireSchema = z.union([z.literal(false), RequireSchema]);
/**
 * Ending every session of a user is more than a narrowly scoped token (an integration's, a
 * downscoped one) should be able to do, so by default `?scope=all` needs `openid`, the scope of a
 * user's own sign-in; `?scope=session` ends only the caller's session and needs nothing more.
 */
export const LogoutSchema = z.strictObject({
  session: LogoutRequireSchema.default({}),
  all: LogoutRequireSchema.default({ scopes: ["openid"] }),
});

export const RuleSchema = z
  .strictObject({
    path: z.string().min(1).max(1024),
    methods: z
      .array(z.string().regex(/^[A-Za-z]{1,16}$/, "must be an HTTP method"))
      .min(1)
      .max(16)
      .transform((ms) => ms.map((m) => m.toUpperCase()))
      .optional(),
    auth: z.enum(["required", "none"]).default("required"),
    require: RequireSchema.optional(),
    revocation: z.enum(["eventual", "strict", "skip"]).default("eventual"),
    client: z.enum(["required", "none"]).default("none"),
    /** "bound": only DPoP-bound or certificate-bound tokens pass (a bound token is checked on every route). */
    sender: z.enum(["any", "bound"]).default("any"),
    /** "network": a DPoP proof is accepted once across every location (replay-shard.ts), not once per isolate. */
    proofReplay: z.enum(["isolate", "network"]).default("isolate"),
  })
  .refine((r) => !(r.auth === "none" && r.require), { error: 'a rule with auth "none" cannot have require' })
  .refine((r) => !(r.auth === "none" && r.sender === "bound"), {
    error: 'a rule with auth "none" cannot have sender "bound"',
  });

export const PolicySchema = z.strictObject({
  routes: z.array(RuleSchema).max(MAX_POLICY_ROUTES),
  /**
   * The ways the origin may match a path besides byte for byte (src/path.ts MatchReadings); a path
   * whose rule differs under one of them is refused. Both on unless the origin is known not to.
   */
  readings: z
    .strictObject({ caseInsensitive: z.boolean().default(true), suffixes: z.boolean().default(true) })
    .default({ caseInsensitive: true, suffixes: true }),
});

/**
 * A Shared Signals transmitter the authorizer receives from (src/ssf/): its SETs are verified as
 * those pushed to /.auth/events are (the issuer's keys and logoutAudiences), and with poll delivery
 * (RFC 8936) the receiver fetches them. `tokenSecret` names the secret holding the bearer token the
 * transmitter gave this receiver for its stream management and poll endpoints.
 */
export const TransmitterSchema = z.strictObject({
  issuer: z.string().min(1).max(2048),
  configurationUrl: httpUrl.optional(),
  delivery: z.enum(["push", "poll"]).default("push"),
  streamId: z.string().min(1).max(256).optional(),
  tokenSecret: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]{0,63}$/, "must be the name of a secret (A-Z, 0-9, _)")
    .optional(),
  pollIntervalSeconds: z.number().int().min(1).max(300).default(10),
  maxEvents: z.number().int().min(1).max(1000).default(100),
  /** How often the receiver asks the transmitter to verify the stream (SSF 1.0 section 8.1.4); 0: never. */
  verifyIntervalSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(86_400),
});

/**
 * This API as an OAuth protected resource (RFC 9728), as the MCP authorization specification asks
 * of a protected MCP server: its identifier (tokens must name it in `aud`, RFC 8707), the
 * authorization servers that issue its tokens, the scopes it knows.
 */
export const ProtectedResourceSchema = z.strictObject({
  resource: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .refine((u) => !u.includes("#") && !u.includes("?"), "must have no query or fragment"),
  authorizationServers: z.array(httpUrl).min(1).max(10),
  scopesSupported: z.array(scopeToken).max(100).optional(),
  resourceName: z.string().min(1).max(256).optional(),
});

export const ClientSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, "must be 1-128 characters of A-Z a-z 0-9 . _ : @ -"),
  keySha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, "must be the SHA-256 of the key, as 64 hex digits")
    .transform((h) => h.toLowerCase()),
  origins: z
    .array(z.url({ protocol: /^https?$/ }).transform((u) => new URL(u).origin))
    .min(1)
    .max(100)
    .optional(),
});

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

const DPOP_DEFAULTS = { maxAgeSeconds: 60, nonce: false, nonceLifetimeSeconds: 300 };
export const SenderConstraintsSchema = z.strictObject({
  dpop: z
    .strictObject({
      /** How old a proof's iat may be (RFC 9449 section 11.1); also how long its jti is remembered. */
      maxAgeSeconds: seconds(5, 300).default(DPOP_DEFAULTS.maxAgeSeconds),
      /** Require server-issued nonces (section 8), from DPOP_NONCE_SECRET. */
      nonce: z.boolean().default(DPOP_DEFAULTS.nonce),
      /** A nonce is good for one to two of these. */
      nonceLifetimeSeconds: seconds(30, 3600).default(DPOP_DEFAULTS.nonceLifetimeSeconds),
    })
    .default(DPOP_DEFAULTS),
  certificates: z
    .strictObject({
      /** Whether a bound certificate must also chain to the hostname's CA (certVerified "SUCCESS"). */
      requireVerified: z.boolean().default(false),
    })
    .default({ requireVerified: false }),
});

/** Each var's schema; `undefined` (unset or "") takes the default. */
const VAR_SCHEMAS = {
  ORIGIN_URL: originUrl.optional(),
  ISSUERS: z
    .array(IssuerSchema)
    .min(1)
    .max(MAX_ISSUERS)
    .refine((is) => new Set(is.map((i) => i.issuer)).size === is.length, "each issuer may appear once"),
  CLOCK_TOLERANCE_SECONDS: seconds(0, 3600).default(30),
  POLICY: PolicySchema.default({ routes: [], readings: { caseInsensitive: true, suffixes: true } }),
  CLAIM_HEADERS: z
    .record(z.string().min(1).max(256), headerName)
    .refine((m) => Object.keys(m).length <= 50, "at most 50 mappings")
    .refine(
      (m) => new Set(Object.values(m).map((h) => h.toLowerCase())).size === Object.keys(m).length,
      "each header may be mapped once",
    )
    .refine(
      (m) => Object.values(m).every((h) => !RESERVED_HEADERS.has(h.toLowerCase())),
      `a header may not be one of: ${[...RESERVED_HEADERS].join(", ")}`,
    )
    .default({}),
  FORWARD_AUTHORIZATION: z.boolean().default(true),
  REVOCATION_MAX_STALENESS_SECONDS: seconds(1, 3600).default(5),
  MAX_TOKEN_LIFETIME_SECONDS: seconds(60, 30 * 86400).default(86400),
  CLIENTS: z
    .array(ClientSchema)
    .max(MAX_CLIENTS)
    .refine((cs) => new Set(cs.map((c) => c.id)).size === cs.length, "each client id may appear once")
    .default([]),
  LOG_DECISIONS: z.enum(["all", "denials", "errors"]).default("all"),
  LOGOUT: LogoutSchema.default({ session: {}, all: { scopes: ["openid"] } }),
  METRICS_SAMPLE_RATE: z.number().gt(0).max(1).default(1),
  PROTECTED_RESOURCE: ProtectedResourceSchema.optional(),
  TRANSMITTERS: z
    .array(TransmitterSchema)
    .max(10)
    .refine((ts) => new Set(ts.map((t) => t.issuer)).size === ts.length, "each transmitter may appear once")
    .default([]),
  FOREIGN_IDENTITY_HEADERS: z
    .array(
      z.union([
        headerName,
        z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,127}\*$/, "must be a header name, or a prefix ending in *"),
      ]),
    )
    .max(200)
    .refine(
      (hs) => hs.every((h) => !FRAMING_HEADERS.has(h.toLowerCase())),
      `a header may not be one of: ${[...FRAMING_HEADERS].join(", ")}`,
    )
    .default(DEFAULT_FOREIGN_IDENTITY_HEADERS),
  SENDER_CONSTRAINTS: SenderConstraintsSchema.default({
    dpop: DPOP_DEFAULTS,
    certificates: { requireVerified: false },
  }),
} as const;

export type ConfigVar = keyof typeof VAR_SCHEMAS | "ADMIN_TOKENS" | "DPOP_NONCE_SECRET";
export const CONFIG_VARS = [...Object.keys(VAR_SCHEMAS), "ADMIN_TOKENS", "DPOP_NONCE_SECRET"] as ConfigVar[];

type Parsed = { [K in keyof typeof VAR_SCHEMAS]: z.output<(typeof VAR_SCHEMAS)[K]> };
export type IssuerConfig = z.output<typeof IssuerSchema>;
export type ClientConfig = z.output<typeof ClientSchema>;
export type TransmitterConfig = z.output<typeof TransmitterSchema> & {
  /** Where its SSF configuration is read: configurationUrl, or the issuer's /.well-known/ssf-configuration. */
  configurationUrl: string;
  /** The bearer token of its endpoints, from the secret tokenSecret names; null without one. */
  token: string | null;
};
export type Rule = z.output<typeof RuleSchema> & { index: number; pattern: PathPattern; methodSet?: Set<string> };

export interface Config {
  /** Where approved requests go; null: the request's own URL (Worker on a route in front of the origin). */
  originUrl: string | null;
  issuers: IssuerConfig[];
  clockToleranceSeconds: number;
  rules: Rule[];
  /** How the origin may read a path besides byte for byte (POLICY.readings). */
  pathReadings: MatchReadings;
  claimHeaders: Record<string, string>;
  forwardAuthorization: boolean;
  revocationMaxStalenessSeconds: number;
  maxTokenLifetimeSeconds: number;
  clients: ClientConfig[];
  /** Accepted admin bearer tokens (several, for rotation). */
  adminTokens: string[];
  /** Which authorization decisions get a log line (the other /.auth routes always do). */
  logDecisions: "all" | "denials" | "errors";
  /** What a token needs to end its session or every session of its user at POST /.auth/logout. */
  logout: z.output<typeof LogoutSchema>;
  /** Lowercased names the client may never send on: X-Api-Key, every CLAIM_HEADERS and FOREIGN_IDENTITY_HEADERS header. */
  strippedHeaders: Set<string>;
  /** Lowercased prefixes of names the client may never send on (FOREIGN_IDENTITY_HEADERS entries ending in *). */
  strippedPrefixes: string[];
  /** DPoP proofs (SENDER_CONSTRAINTS.dpop); a nonce secret means nonces are required. */
  dpop: { maxAgeSeconds: number; nonceLifetimeSeconds: number; nonceSecret: string | null };
  certificates: { requireVerified: boolean };
  /** Every issuer's DPoP algorithms, space-separated: the `algs` of a DPoP challenge. */
  dpopAlgs: string;
  /** Shared Signals transmitters (TRANSMITTERS). */
  transmitters: TransmitterConfig[];
  /** The share of allowed decisions written to METRICS (denials and errors always are). */
  metricsSampleRate: number;
  /** PROTECTED_RESOURCE, with the URL of its metadata; null when unset. */
  protectedResource: (z.output<typeof ProtectedResourceSchema> & { metadataUrl: string }) | null;
}

export interface ConfigIssue {
  var: ConfigVar;
  message: string;
}

/** Admin tokens shorter than this are refused: they are bearer secrets guarding every revocation. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;
/** A DPoP nonce secret shorter than this is refused: anyone who guesses it makes nonces that never expire. */
export const MIN_NONCE_SECRET_LENGTH = 32;

function fromVar(raw: unknown): { ok: true; value: unknown } | { ok: false } {
  if (typeof raw !== "string") return { ok: true, value: raw };
  const text = raw.trim();
  if (text === "") return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function describe(issue: z.core.$ZodIssue): string {
  const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
  return path ? `${path.replace(/^\./, "")}: ${issue.message}` : issue.message;
}

/** Parses every var; returns the Config or the list of what is wrong, by var name. */
export function parseConfig(env: Record<string, unknown>): { config: Config } | { issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const parsed: Partial<Record<string, unknown>> = {};
  for (const [name, schema] of Object.entries(VAR_SCHEMAS) as [keyof typeof VAR_SCHEMAS, z.ZodType][]) {
    let input = fromVar(env[name]);
    // The vars that are naturally bare strings.
    if (!input.ok && (name === "ORIGIN_URL" || name === "LOG_DECISIONS"))
      input = { ok: true, value: String(env[name]).trim() };
    if (!input.ok) {
      issues.push({ var: name, message: "is not valid JSON" });
      continue;
    }
    if (input.value === undefined && name === "ISSUERS") {
      issues.push({ var: name, message: "is required" });
      continue;
    }
    const result = schema.safeParse(input.value);
    if (result.success) parsed[name] = result.data;
    else for (const issue of result.error.issues.slice(0, 5)) issues.push({ var: name, message: describe(issue) });
  }

  const adminTokens = parseAdminTokens(env.ADMIN_TOKENS);
  if (adminTokens === null) {
    issues.push({
      var: "ADMIN_TOKENS",
      message: `must be a comma-separated list of tokens of at least ${MIN_ADMIN_TOKEN_LENGTH} characters, without spaces`,
    });
  }
  const nonceSecret = typeof env.DPOP_NONCE_SECRET === "string" ? env.DPOP_NONCE_SECRET.trim() : "";
  const senders = parsed.SENDER_CONSTRAINTS as Parsed["SENDER_CONSTRAINTS"] | undefined;
  if (senders?.dpop.nonce && nonceSecret.length < MIN_NONCE_SECRET_LENGTH)
    issues.push({
      var: "DPOP_NONCE_SECRET",
      message: `must be a secret of at least ${MIN_NONCE_SECRET_LENGTH} characters when SENDER_CONSTRAINTS.dpop.nonce is true`,
    });
  for (const [i, t] of ((parsed.TRANSMITTERS as Parsed["TRANSMITTERS"] | undefined) ?? []).entries()) {
    const issuer = (parsed.ISSUERS as Parsed["ISSUERS"] | undefined)?.find((is) => is.issuer === t.issuer);
    if (issuer && !issuer.logoutAudiences?.length)
      issues.push({ var: "TRANSMITTERS", message: `[${i}]: its issuer needs logoutAudiences (the aud of its SETs)` });
    else if (!issuer) issues.push({ var: "TRANSMITTERS", message: `[${i}]: issuer must be one of ISSUERS` });
    if (t.delivery === "poll" && !t.tokenSecret)
      issues.push({ var: "TRANSMITTERS", message: `[${i}]: poll delivery needs tokenSecret` });
    if (t.tokenSecret && !(typeof env[t.tokenSecret] === "string" && (env[t.tokenSecret] as string).trim() !== ""))
      issues.push({ var: "TRANSMITTERS", message: `[${i}]: the secret ${t.tokenSecret} is not set` });
    if (!t.configurationUrl && !/^https?:\/\//.test(t.issuer))
      issues.push({ var: "TRANSMITTERS", message: `[${i}]: without configurationUrl, issuer must be an http(s) URL` });
  }
  if (
    ((parsed.TRANSMITTERS as Parsed["TRANSMITTERS"] | undefined) ?? []).length > 0 &&
    env.SIGNAL_RECEIVER === undefined
  )
    issues.push({ var: "TRANSMITTERS", message: "needs the SIGNAL_RECEIVER Durable Object binding" });
  const routes = (parsed.POLICY as Parsed["POLICY"] | undefined)?.routes ?? [];
  if (routes.some((r) => r.proofReplay === "network") && env.DPOP_REPLAY === undefined)
    issues.push({ var: "POLICY", message: 'proofReplay "network" needs the DPOP_REPLAY Durable Object binding' });
  if (issues.length > 0) return { issues };

  const p = parsed as Parsed;
  const rules: Rule[] = p.POLICY.routes.map((r, index) => ({
    ...r,
    index,
    pattern: compilePattern(r.path),
    // Every framework answers HEAD with its GET handler, so a rule for GET is one for HEAD too.
    methodSet: r.methods ? new Set(r.methods.includes("GET") ? [...r.methods, "HEAD"] : r.methods) : undefined,
  }));
  for (const r of rules) {
    if (!r.pattern.ok) issues.push({ var: "POLICY", message: `routes[${r.index}].path: ${r.pattern.error}` });
  }
  if (issues.length > 0) return { issues };

  return {
    config: {
      originUrl: p.ORIGIN_URL ? p.ORIGIN_URL.replace(/\/+$/, "") : null,
      issuers: p.ISSUERS,
      clockToleranceSeconds: p.CLOCK_TOLERANCE_SECONDS,
      rules,
      pathReadings: p.POLICY.readings,
      claimHeaders: p.CLAIM_HEADERS,
      forwardAuthorization: p.FORWARD_AUTHORIZATION,
      revocationMaxStalenessSeconds: p.REVOCATION_MAX_STALENESS_SECONDS,
      logDecisions: p.LOG_DECISIONS,
      logout: p.LOGOUT,
      maxTokenLifetimeSeconds: p.MAX_TOKEN_LIFETIME_SECONDS,
      clients: p.CLIENTS,
      adminTokens: adminTokens ?? [],
      strippedHeaders: new Set([
        "x-api-key",
        ...[...Object.values(p.CLAIM_HEADERS), ...p.FOREIGN_IDENTITY_HEADERS.filter((h) => !h.endsWith("*"))].map((h) =>
          h.toLowerCase(),
        ),
      ]),
      strippedPrefixes: p.FOREIGN_IDENTITY_HEADERS.filter((h) => h.endsWith("*")).map((h) =>
        h.slice(0, -1).toLowerCase(),
      ),
      dpop: {
        maxAgeSeconds: p.SENDER_CONSTRAINTS.dpop.maxAgeSeconds,
        nonceLifetimeSeconds: p.SENDER_CONSTRAINTS.dpop.nonceLifetimeSeconds,
        nonceSecret: p.SENDER_CONSTRAINTS.dpop.nonce ? nonceSecret : null,
      },
      certificates: p.SENDER_CONSTRAINTS.certificates,
      dpopAlgs: [...new Set(p.ISSUERS.flatMap((i) => i.dpopAlgorithms))].join(" "),
      metricsSampleRate: p.METRICS_SAMPLE_RATE,
      protectedResource: p.PROTECTED_RESOURCE
        ? { ...p.PROTECTED_RESOURCE, metadataUrl: metadataUrlOf(p.PROTECTED_RESOURCE.resource) }
        : null,
      transmitters: p.TRANSMITTERS.map((t) => ({
        ...t,
        configurationUrl: t.configurationUrl ?? `${t.issuer.replace(/\/+$/, "")}/.well-known/ssf-configuration`,
        token: t.tokenSecret ? (env[t.tokenSecret] as string).trim() : null,
      })),
    },
  };
}

/**
 * RFC 9728 section 3.1: the well-known segment goes between the host and the resource's path, so
 * `https://api.example/mcp` publishes at `https://api.example/.well-known/oauth-protected-resource/mcp`.
 */
export function metadataUrlOf(resource: string): string {
  const u = new URL(resource);
  const path = u.pathname === "/" ? "" : u.pathname.replace(/\/+$/, "");
  return `${u.origin}/.well-known/oauth-protected-resource${path}`;
}

function parseAdminTokens(raw: unknown): string[] | null {
  if (raw === undefined || raw === null || raw === "") return [];
  if (typeof raw !== "string") return null;
  const tokens = raw
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  const valid = tokens.every((t) => t.length >= MIN_ADMIN_TOKEN_LENGTH && /^[\x21-\x7e]+$/.test(t));
  return valid ? tokens : null;
}

// Deliberate cache: one parse per env object, and an isolate sees one env object for its life.
// A WeakMap is bounded by the live env objects and can never serve one env's config for another.
const parsedByEnv = new WeakMap<object, Config | AuthError>();

/** The isolate's Config, or an AuthError("config_invalid") naming every bad var. */
export function loadConfig(env: object): Config | AuthError {
  const cached = parsedByEnv.get(env);
  if (cached) return cached;
  const result = parseConfig(env as Record<string, unknown>);
  const value =
    "config" in result
      ? result.config
      : new AuthError(
          "config_invalid",
          `Invalid configuration: ${[...new Set(result.issues.map((i) => i.var))].join(", ")}`,
          { errors: result.issues },
        );
  parsedByEnv.set(env, value);
  return value;
}

// The names of the identity headers, in one leaf module: the configuration (which headers a claim
// mapping may not take), the OpenAPI description and the headers' builder (identity.ts) all read it.

/** Every header the authorizer sets: clients can never send them (see IDENTITY_HEADER_PREFIX). */
export const IDENTITY_HEADER_PREFIX = "x-auth-";

/** The identity headers and what each carries: the one list (the configuration and the OpenAPI description read it). */
export const IDENTITY_HEADERS = {
  "X-Auth-Subject": "`sub`",
  "X-Auth-Issuer": "`iss`",
  "X-Auth-Token-Id": "`jti`",
  "X-Auth-Session": "`sid`",
  "X-Auth-Scopes": "`scope`, or `scp` joined with spaces",
  "X-Auth-Roles": "`roles`, joined with commas",
  "X-Auth-Expires": "`exp`",
  "X-Auth-Claims": "the whole payload, JSON, base64url",
  "X-Auth-Client": "the client application's id (CLIENTS)",
  "X-Auth-Binding": "`dpop` or `mtls`: what the token is bound to (`cnf`), proven on this request",
  "X-Auth-Key-Thumbprint": "`cnf.jkt` or `cnf.x5t#S256`: the bound key's or certificate's SHA-256 thumbprint",
} as const;
export type IdentityHeader = keyof typeof IDENTITY_HEADERS;

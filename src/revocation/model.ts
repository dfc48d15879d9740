// What a revocation is, in one shape for the ledger, the KV read model, the feed and the check.
// `jti` denies one token (by its jti) until its exp; `token` denies one token that has no jti, by the
// SHA-256 of what its issuer signed (`header.payload`, never the signature); `sub` and `sid` deny
// every token of that subject or session issued at or before `at`, and `email` every token whose
// `email` claim is that address (lowercased) issued at or before `at` (a Shared Signals subject
// named by email). `iss` null means "whatever the issuer". Times are Unix seconds.
import { z } from "zod";
import { MAX_TOKEN_BYTES } from "../constants";

// Zod schemas describe these shapes for the API description (src/openapi.ts); the types come from them.
export const RevocationSchema = z
  .object({
    kind: z.enum(["jti", "token", "sub", "sid", "email"]),
    /** The jti, the token's SHA-256 (hex), the subject, the session id or the email address (lowercased). */
    value: z.string(),
    iss: z.string().nullable().describe("The issuer it applies to; null means any issuer."),
    /** When it was revoked. For sub/sid, tokens with iat <= at are denied. */
    at: z.number().int().describe("When it was revoked (Unix seconds); sub/sid/email deny tokens with iat <= at."),
    /** After this no token it matches can be valid, and the entry is dropped. */
    expiresAt: z.number().int().describe("When the entry expires by itself (Unix seconds)."),
  })
  .meta({ id: "Revocation" });
export type Revocation = z.output<typeof RevocationSchema>;
export type RevocationKind = Revocation["kind"];

export const RevocationEventSchema = z
  .object({
    seq: z
      .number()
      .int()
      .positive()
      .describe("The ledger's order: strictly increasing; a seq of a pruned or superseded entry leaves a gap."),
    revocation: RevocationSchema,
    at: z.number().int().describe("When the ledger recorded it (Unix seconds)."),
  })
  .meta({ id: "RevocationEvent" });
export type RevocationEvent = z.output<typeof RevocationEventSchema>;

const id = z.string().min(1).max(1024);
const iss = z.string().min(1).max(2048).optional();

/** The four bodies of POST /.auth/revoke; nothing else is accepted. */
export const RevokeBodySchema = z
  .union([
    z.strictObject({
      jti: id,
      exp: z
        .number()
        .int()
        .positive()
        .max(2 ** 40),
      iss,
    }),
    z.strictObject({ token: z.string().min(1).max(MAX_TOKEN_BYTES) }),
    z.strictObject({ sub: id, iss }),
    z.strictObject({ sid: id, iss }),
  ])
  .meta({
    id: "RevokeBody",
    description:
      "One token by jti (with its exp), one token by value, every token of a subject, or every token of a session.",
  });
export type RevokeBody = z.output<typeof RevokeBodySchema>;

/** A Structured Fields String (RFC 9651), the header's form in the draft: "..." with \" and \\. */
const SF_STRING = /^"((?:[^"\\]|\\["\\])*)"$/;

/**
 * The Idempotency-Key header of POST /.auth/revoke (draft-ietf-httpapi-idempotency-key-header), to
 * the key: 1 to 255 printable ASCII characters (a UUID fits). The draft's quoted form and the bare
 * form many clients send are both accepted and mean the same key.
 */
export const IdempotencyKeySchema = z
  .string()
  .max(1024)
  .transform((header) => {
    const quoted = SF_STRING.exec(header);
    return quoted ? quoted[1]!.replace(/\\(["\\])/g, "$1") : header;
  })
  .pipe(z.string().regex(/^[\x20-\x7e]{1,255}$/));

/** What a token says about itself, for matching against revocations. */
export interface TokenFacts {
  iss: string;
  /** The jti, or when absent the SHA-256 of the token's signing input (`header.payload`). */
  jti?: string;
  tokenSha256?: string;
  sub?: string;
  sid?: string;
  /** The `email` claim, lowercased. */
  email?: string;
  /**
   * The token's iat less CLOCK_TOLERANCE_SECONDS: the earliest it can have been issued on the
   * ledger's clock. An issuer whose clock runs ahead by up to the tolerance (which verification
   * accepts) stamps a token minted just before a sub/sid revocation with an iat after its `at`; read
   * as issued, that token would outlive the revocation. So a sub/sid revocation denies tokens with an
   * iat up to the tolerance after it, and a login within that time after one is refused too.
   */
  iat?: number;
}

/**
 * Whether an entry of `kind` with time `at` denies a token issued at `iat`. For sub/sid a token
 * without iat is denied: it could have been issued before the revocation (fail closed).
 */
export function denies(kind: RevocationKind, at: number, iat: number | undefined): boolean {
  if (kind === "jti" || kind === "token") return true;
  return iat === undefined || iat <= at;
}

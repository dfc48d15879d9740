// What a revocation is, in one shape for the ledger, the KV read model, the feed and the check.
// `jti` denies one token (by its jti) until its exp; `token` denies one token that has no jti, by the
// SHA-256 of the whole token; `sub` and `sid` deny every token of that subject or session issued at
// or before `at`. `iss` null means "whatever the issuer". Times are Unix seconds.
import { z } from "zod";
import { MAX_TOKEN_BYTES } from "../constants";

export type RevocationKind = "jti" | "token" | "sub" | "sid";

export interface Revocation {
  kind: RevocationKind;
  /** The jti, the token's SHA-256 (hex), the subject or the session id. */
  value: string;
  iss: string | null;
  /** When it was revoked. For sub/sid, tokens with iat <= at are denied. */
  at: number;
  /** After this no token it matches can be valid, and the entry is dropped. */
  expiresAt: number;
}

export interface RevocationEvent {
  seq: number;
  revocation: Revocation;
  at: number;
}

const id = z.string().min(1).max(1024);
const iss = z.string().min(1).max(2048).optional();

/** The four bodies of POST /.auth/revoke; nothing else is accepted. */
export const RevokeBodySchema = z.union([
  z.strictObject({ jti: id, exp: z.number().int().positive().max(2 ** 40), iss }),
  z.strictObject({ token: z.string().min(1).max(MAX_TOKEN_BYTES) }),
  z.strictObject({ sub: id, iss }),
  z.strictObject({ sid: id, iss }),
]);
export type RevokeBody = z.output<typeof RevokeBodySchema>;

/** What a token says about itself, for matching against revocations. */
export interface TokenFacts {
  iss: string;
  /** The jti, or when absent the SHA-256 of the whole token. */
  jti?: string;
  tokenSha256?: string;
  sub?: string;
  sid?: string;
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

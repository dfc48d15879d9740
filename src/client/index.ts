// edge-jwt-authorizer/client: revoke tokens, read the revocation feed and follow its stream from an
// origin or an identity service. Runtime-neutral: only fetch, WebSocket, AbortSignal and URL (Node
// 22+ and Cloudflare Workers, both tested; browsers too, except follow()). Guide: docs/client.md.
export { RevocationClient, type CallOptions, type RevocationClientOptions, type RevokeOptions } from "./client.js";
export { RevocationClientError, type ClientErrorCode, type RevocationClientErrorInit } from "./errors.js";
export type { FollowOptions } from "./follow.js";
export type {
  FeedPage,
  FetchLike,
  Health,
  Problem,
  ResponseLike,
  Revocation,
  RevocationEvent,
  RevocationKind,
  RevokeResult,
} from "./types.js";

// Every failure of the client, as one error class: an HTTP refusal carries the problem body's
// fields; a failure without an HTTP answer has status null and a client-side code.

/** Codes the client sets itself, when there is no problem body to take one from. */
export type ClientErrorCode =
  | "network_error"
  | "timeout"
  | "aborted"
  | "response_invalid"
  | "http_error"
  | "request_invalid"
  | "websocket_unavailable";

export interface RevocationClientErrorInit {
  /** The HTTP status, or null when no HTTP answer arrived (network error, timeout, abort). */
  status: number | null;
  /** The problem body's `code` (e.g. "admin_unauthorized"), or a ClientErrorCode. */
  code: string;
  detail: string;
  type?: string;
  title?: string;
  /** Requests sent, retries included. */
  attempts?: number;
  cause?: unknown;
}

export class RevocationClientError extends Error {
  override readonly name = "RevocationClientError";
  readonly status: number | null;
  readonly code: string;
  readonly type: string | undefined;
  readonly title: string | undefined;
  readonly detail: string;
  readonly attempts: number;

  constructor(init: RevocationClientErrorInit) {
    super(
      `${init.status ?? "no response"} ${init.code}: ${init.detail}`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.status = init.status;
    this.code = init.code;
    this.type = init.type;
    this.title = init.title;
    this.detail = init.detail;
    this.attempts = init.attempts ?? 1;
  }
}

/** The error for a refused request, from its problem body when it has one. */
export function errorFromResponse(status: number, bodyText: string, attempts: number): RevocationClientError {
  let problem: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(bodyText);
    if (parsed !== null && typeof parsed === "object") problem = parsed as Record<string, unknown>;
  } catch {
    // not JSON (e.g. a proxy's HTML page): keep the status alone
  }
  const text = (v: unknown) => (typeof v === "string" ? v : undefined);
  return new RevocationClientError({
    status,
    code: text(problem.code) ?? "http_error",
    detail: text(problem.detail) ?? `HTTP ${status}`,
    type: text(problem.type),
    title: text(problem.title),
    attempts,
  });
}

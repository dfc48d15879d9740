// One admin request with bounded retries. A retry is only sent when the request may not have been
// handled (no answer, a timeout) or the gateway said so (502/503/504); every other refusal (400, 401,
// 403, 413, 422, 507, ...) would only be refused again. POSTs are retried too: the client sends each
// revoke with one Idempotency-Key for all its attempts, so the ledger records it once.
import { backoffMs, retryAfterMs, sleep, untilAborted } from "./backoff.js";
import { errorFromResponse, RevocationClientError } from "./errors.js";
import type { FetchLike } from "./types.js";

/** The gateway, or the ledger behind it, was briefly unavailable. */
const RETRY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 5_000;
/** The longest wait between two attempts, whatever Retry-After asks. */
export const MAX_RETRY_WAIT_MS = 30_000;

export interface Transport {
  /** No trailing slash. */
  baseUrl: string;
  adminToken: string;
  fetch: FetchLike;
  /** Per attempt, from sending to the end of the body. */
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
}

export interface RequestSpec {
  method: "GET" | "POST";
  /** The path and query, e.g. "/.auth/revocations?since=0". */
  path: string;
  body?: unknown;
  idempotencyKey?: string;
  signal?: AbortSignal;
}

type Attempt =
  { ok: true; value: unknown } | { ok: false; error: RevocationClientError; retry: boolean; waitMs?: number };

/** A Structured Fields String, the header's form in draft-ietf-httpapi-idempotency-key-header. */
const sfString = (value: string) => `"${value.replace(/[\\"]/g, "\\$&")}"`;

function abortedError(signal: AbortSignal, attempts: number): RevocationClientError {
  return new RevocationClientError({
    status: null,
    code: "aborted",
    detail: "The caller aborted the request.",
    attempts,
    cause: signal.reason,
  });
}

/** The parsed JSON of a 2xx answer; throws RevocationClientError once retrying cannot help. */
export async function request(t: Transport, spec: RequestSpec): Promise<unknown> {
  const headers: Record<string, string> = { Authorization: `Bearer ${t.adminToken}`, Accept: "application/json" };
  let body: string | undefined;
  if (spec.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(spec.body);
  }
  if (spec.idempotencyKey !== undefined) headers["Idempotency-Key"] = sfString(spec.idempotencyKey);
  const init = { method: spec.method, headers, body };
  const attempts = t.retries + 1;
  for (let attempt = 1; ; attempt++) {
    const result = await once(t, t.baseUrl + spec.path, init, spec.signal, attempt);
    if (result.ok) return result.value;
    if (!result.retry || attempt >= attempts) throw result.error;
    const waitMs = Math.min(
      MAX_RETRY_WAIT_MS,
      result.waitMs ?? backoffMs(attempt - 1, BACKOFF_BASE_MS, BACKOFF_MAX_MS),
    );
    if (!(await sleep(waitMs, spec.signal))) throw abortedError(spec.signal!, attempt);
  }
}

async function once(
  t: Transport,
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  caller: AbortSignal | undefined,
  attempt: number,
): Promise<Attempt> {
  if (caller?.aborted) return { ok: false, error: abortedError(caller, attempt - 1), retry: false };
  const timeout = AbortSignal.timeout(t.timeoutMs);
  const signal = caller ? AbortSignal.any([caller, timeout]) : timeout;
  let status: number;
  let retryAfter: string | null;
  let text: string;
  try {
    const response = await untilAborted(t.fetch(url, { ...init, signal }), signal);
    status = response.status;
    retryAfter = response.headers.get("Retry-After");
    text = await untilAborted(response.text(), signal);
  } catch (cause) {
    if (caller?.aborted) return { ok: false, error: abortedError(caller, attempt), retry: false };
    const timedOut = timeout.aborted;
    const error = new RevocationClientError({
      status: null,
      code: timedOut ? "timeout" : "network_error",
      detail: timedOut
        ? `No complete answer within ${t.timeoutMs} ms.`
        : "The request failed before a complete answer arrived.",
      attempts: attempt,
      cause,
    });
    return { ok: false, error, retry: true };
  }
  if (status >= 200 && status < 300) {
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (cause) {
      const error = new RevocationClientError({
        status,
        code: "response_invalid",
        detail: "The answer is not JSON.",
        attempts: attempt,
        cause,
      });
      return { ok: false, error, retry: false };
    }
  }
  const error = errorFromResponse(status, text, attempt);
  if (!RETRY_STATUSES.has(status)) return { ok: false, error, retry: false };
  return { ok: false, error, retry: true, waitMs: retryAfterMs(retryAfter, Date.now()) ?? undefined };
}

// follow(): GET /.auth/revocations/stream kept open across drops and gateway restarts. The ledger
// sends, on connect with ?since=N, every event after N (oldest first), then each new one as it is
// recorded, all in seq order, one JSON text frame { seq, revocation, at } each; it answers the text
// frame "ping" with "pong". So a reconnect with since = the last delivered seq loses nothing, and
// what arrives twice (seq <= last) is dropped. Events go to onEvent one at a time, in order.
import { backoffMs, sleep, untilAborted } from "./backoff.js";
import { errorFromResponse, RevocationClientError } from "./errors.js";
import { asEvent } from "./parse.js";
import type { FetchLike, RevocationEvent } from "./types.js";

export interface FollowOptions {
  /** Deliver the events after this seq (0: all the ledger still holds; or the last one you handled). */
  since: number;
  /** Called once per event, in seq order; the next waits for its promise. Throwing ends follow(). */
  onEvent: (event: RevocationEvent) => void | Promise<void>;
  /** Told why a connection failed or dropped, before the next attempt. */
  onError?: (error: RevocationClientError) => void;
  /** Ends follow(): its promise then resolves with the last delivered seq. */
  signal: AbortSignal;
  /** Reconnect delay: from this, doubling per consecutive failure (jittered). Default 250 ms. */
  minReconnectDelayMs?: number;
  /** Reconnect delay, at most. Default 30 s. */
  maxReconnectDelayMs?: number;
  /** Failed connections in a row before follow() rejects with the last error. Default 100. */
  maxConsecutiveFailures?: number;
  /** A "ping" is sent this often; a connection silent for twice as long is dropped. Default 30 s. */
  heartbeatMs?: number;
}

export interface Endpoint {
  baseUrl: string;
  adminToken: string;
  fetch: FetchLike;
  /** To open a connection (and to probe why it failed). */
  timeoutMs: number;
}

/** Undelivered events held at most; beyond, the socket is closed and reopened once they are handled. */
const MAX_QUEUED = 10_000;
/** A connection that lasted this long without a new event still counts as having worked. */
const STABLE_CONNECTION_MS = 10_000;

/** The part of a WebSocket used here: Node's, browsers' and Workers' all have it. */
interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: { data?: unknown; code?: number; reason?: string }) => void): void;
}

type SessionEnd =
  | { kind: "aborted" }
  /** Closed on purpose after MAX_QUEUED (all delivered since): reconnect at once. */
  | { kind: "paused" }
  | { kind: "dropped"; error: RevocationClientError; held: boolean }
  | { kind: "fatal"; error: unknown };

/** Resolves with the last delivered seq once `signal` aborts; rejects on a refusal or too many failures. */
export async function follow(endpoint: Endpoint, options: FollowOptions): Promise<number> {
  if (!Number.isSafeInteger(options.since) || options.since < 0)
    throw new TypeError("follow(): since must be a seq, an integer of 0 or more.");
  const minDelayMs = positive(options.minReconnectDelayMs, 250, "minReconnectDelayMs");
  const maxDelayMs = Math.max(minDelayMs, positive(options.maxReconnectDelayMs, 30_000, "maxReconnectDelayMs"));
  const maxFailures = positive(options.maxConsecutiveFailures, 100, "maxConsecutiveFailures");
  positive(options.heartbeatMs, 30_000, "heartbeatMs");
  const state = { last: options.since };
  let failures = 0;
  while (!options.signal.aborted) {
    const end = await session(endpoint, state, options);
    if (end.kind === "aborted") break;
    if (end.kind === "fatal") throw end.error;
    if (end.kind === "paused") continue;
    failures = end.held ? 0 : failures + 1;
    options.onError?.(end.error);
    if (failures >= maxFailures) throw end.error;
    if (!(await sleep(backoffMs(failures, minDelayMs, maxDelayMs), options.signal))) break;
  }
  return state.last;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`follow(): ${name} must be a positive integer.`);
  return value;
}

function streamUrl(endpoint: Endpoint, since: number, scheme: "http" | "ws"): string {
  const url = new URL(`${endpoint.baseUrl}/.auth/revocations/stream`);
  url.searchParams.set("since", String(since));
  if (scheme === "ws") url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/**
 * Opens the stream. Workers cannot send headers with `new WebSocket()`, but a fetch with Upgrade
 * gives an accepted socket; elsewhere the constructor's non-standard `{ headers }` argument (Node 22;
 * Deno and Bun have it too) carries the admin token. Browsers have neither: there this throws.
 */
async function open(endpoint: Endpoint, since: number): Promise<{ socket: SocketLike; opened: boolean }> {
  const global = globalThis as unknown as Record<string, unknown>;
  const authorization = `Bearer ${endpoint.adminToken}`;
  if (typeof global.WebSocketPair === "function") {
    const timeout = AbortSignal.timeout(endpoint.timeoutMs);
    const response = await untilAborted(
      endpoint.fetch(streamUrl(endpoint, since, "http"), {
        method: "GET",
        headers: { Authorization: authorization, Upgrade: "websocket" },
      }),
      timeout,
    );
    const socket = (response as unknown as { webSocket?: (SocketLike & { accept(): void }) | null }).webSocket;
    if (response.status !== 101 || !socket)
      throw errorFromResponse(response.status, await untilAborted(response.text(), timeout), 1);
    socket.accept();
    return { socket, opened: true };
  }
  const WebSocketClass = global.WebSocket as (new (url: string, init: unknown) => SocketLike) | undefined;
  if (typeof WebSocketClass !== "function") {
    throw new RevocationClientError({
      status: null,
      code: "websocket_unavailable",
      detail: "This runtime has no global WebSocket (Node 22 or later has one).",
    });
  }
  try {
    return {
      socket: new WebSocketClass(streamUrl(endpoint, since, "ws"), { headers: { Authorization: authorization } }),
      opened: false,
    };
  } catch (cause) {
    throw new RevocationClientError({
      status: null,
      code: "websocket_unavailable",
      detail:
        "This runtime's WebSocket cannot send an Authorization header (browsers cannot); follow() needs Node 22+ or Workers.",
      cause,
    });
  }
}

/**
 * Why a handshake failed, which a WebSocket does not tell (no status): the same URL without Upgrade
 * answers 426 when the token is good, else the refusal (401, 403, ...), which no retry would change.
 */
async function refusal(endpoint: Endpoint, since: number): Promise<RevocationClientError | null> {
  try {
    const timeout = AbortSignal.timeout(endpoint.timeoutMs);
    const response = await untilAborted(
      endpoint.fetch(streamUrl(endpoint, since, "http"), {
        method: "GET",
        headers: { Authorization: `Bearer ${endpoint.adminToken}` },
        signal: timeout,
      }),
      timeout,
    );
    const text = await untilAborted(response.text(), timeout);
    return isLasting(response.status) ? errorFromResponse(response.status, text, 1) : null;
  } catch {
    return null; // unreachable: a transient failure like the handshake's
  }
}

/** One connection: delivers what it receives, in order, and says how it ended. */
async function session(endpoint: Endpoint, state: { last: number }, options: FollowOptions): Promise<SessionEnd> {
  const { signal } = options;
  const heartbeatMs = options.heartbeatMs ?? 30_000;
  let socket: SocketLike;
  let opened: boolean;
  try {
    ({ socket, opened } = await open(endpoint, state.last));
  } catch (error) {
    if (error instanceof RevocationClientError && (error.code === "websocket_unavailable" || isLasting(error.status)))
      return { kind: "fatal", error };
    return { kind: "dropped", error: asClientError(error, "The stream could not be opened."), held: false };
  }

  const startedAt = Date.now();
  let openedAt = opened ? startedAt : 0;
  let lastFrameAt = startedAt;
  let advanced = false;
  let queuedUpTo = state.last;
  const queue: RevocationEvent[] = [];
  let ended: RevocationClientError | "paused" | "aborted" | null = null;
  let wake: () => void = () => {};
  const end = (why: NonNullable<typeof ended>) => {
    if (ended === null) {
      ended = why;
      try {
        socket.close(1000, "done");
      } catch {
        // already closing
      }
    }
    wake();
  };

  socket.addEventListener("open", () => {
    opened = true;
    openedAt = lastFrameAt = Date.now();
    wake();
  });
  socket.addEventListener("message", (message) => {
    lastFrameAt = Date.now();
    if (ended !== null || typeof message.data !== "string" || message.data === "pong") return;
    let event: RevocationEvent | null = null;
    try {
      event = asEvent(JSON.parse(message.data));
    } catch {
      // not JSON: ignored like any frame that is not an event
    }
    if (event === null || event.seq <= queuedUpTo) return;
    queuedUpTo = event.seq;
    queue.push(event);
    if (queue.length >= MAX_QUEUED) end("paused");
    wake();
  });
  socket.addEventListener("close", (close) => {
    end(
      new RevocationClientError({
        status: null,
        code: "network_error",
        detail: `The stream closed (code ${close.code ?? "none"}${close.reason ? `, ${close.reason}` : ""}).`,
      }),
    );
  });
  socket.addEventListener("error", () => {
    end(new RevocationClientError({ status: null, code: "network_error", detail: "The stream failed." }));
  });
  const onAbort = () => end("aborted");
  signal.addEventListener("abort", onAbort, { once: true });
  const ticker = setInterval(
    () => {
      const now = Date.now();
      if (!opened) {
        if (now - startedAt > endpoint.timeoutMs)
          end(
            new RevocationClientError({
              status: null,
              code: "timeout",
              detail: `The stream did not open within ${endpoint.timeoutMs} ms.`,
            }),
          );
      } else if (now - lastFrameAt > 2 * heartbeatMs) {
        end(
          new RevocationClientError({
            status: null,
            code: "timeout",
            detail: `The stream was silent for ${2 * heartbeatMs} ms.`,
          }),
        );
      } else if (now - lastFrameAt >= heartbeatMs) {
        try {
          socket.send("ping");
        } catch {
          // closing; its close event ends the session
        }
      }
    },
    Math.min(heartbeatMs, endpoint.timeoutMs) / 2,
  );

  try {
    // Each turn delivers one event, or returns, or waits for the socket, the ticker or the signal.
    for (;;) {
      if (signal.aborted) return { kind: "aborted" };
      const event = queue.shift();
      if (event !== undefined) {
        await options.onEvent(event);
        state.last = event.seq;
        advanced = true;
        continue;
      }
      const why: typeof ended = ended;
      if (why === "aborted") return { kind: "aborted" };
      if (why === "paused") return { kind: "paused" };
      if (why !== null) {
        if (!opened) {
          const refused = await refusal(endpoint, state.last);
          if (refused !== null) return { kind: "fatal", error: refused };
        }
        return {
          kind: "dropped",
          error: why,
          held: opened && (advanced || Date.now() - openedAt >= STABLE_CONNECTION_MS),
        };
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } catch (error) {
    return { kind: "fatal", error }; // onEvent threw: the caller's to handle
  } finally {
    clearInterval(ticker);
    signal.removeEventListener("abort", onAbort);
    end("aborted");
  }
}

/** Statuses no reconnect would change: the token, the request or the route is wrong. */
function isLasting(status: number | null): boolean {
  return status !== null && status >= 400 && status < 500 && ![408, 426, 429].includes(status);
}

function asClientError(error: unknown, detail: string): RevocationClientError {
  return error instanceof RevocationClientError
    ? error
    : new RevocationClientError({ status: null, code: "network_error", detail, cause: error });
}

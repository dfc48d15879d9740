// An OpenID Shared Signals Framework 1.0 transmitter (final, August 2025) for the SSF receiver's
// end-to-end tests: it signs Security Event Tokens (RFC 8417: `typ` secevent+jwt, ES256, its own key,
// published at /jwks.json and found through /.well-known/openid-configuration), answers the
// Transmitter Configuration Metadata at /.well-known/ssf-configuration (section 7.1), and serves the
// stream management API (section 8: configuration, status, verification) behind a static bearer
// token. Streams deliver by poll (RFC 8936: POST /ssf/poll/<stream_id>, ack and setErrs, unacked SETs
// delivered again on every poll, long poll when returnImmediately is not true) or by push (RFC 8935:
// POST application/secevent+jwt to the stream's endpoint_url, 5xx and network errors retried a
// bounded number of times, then kept queued until the next event or POST /test/flush). A paused
// stream holds its events until enabled, a disabled one drops them; stream-updated events go out
// whatever the status (SSF 1.0 section 8.1.5: before the stream stops, and upon re-enabling it).
// The subjects of the events are RFC 9493 subject identifiers in the top-level `sub_id` claim.
//
// Usage: node test/e2e/ssf-transmitter.mjs --port 9200 --receiver-token <token>
//   [--audience edge-jwt-authorizer] [--stream-id <id> [--delivery poll|push]
//   [--push-url <url> [--push-authorization <header value>]]] [--long-poll-ms 2000]
//   [--push-retries 3] [--max-queue 1000]
// --stream-id creates a stream at start (requesting every CAEP and RISC event type), so that a
// receiver configured with that stream id can poll at once (or be pushed to at --push-url).
// TEST ONLY, unauthenticated, on 127.0.0.1: POST /test/events issues one SET to every stream (or
// to `stream_id`) that delivers its type, POST /test/flush retries queued pushes, GET /test/state
// shows the streams, their queues, the acks, the setErrs, the polls and the pushes.
// Prints `listening on <port>` when ready, then one JSON line per thing it does: stream.created,
// stream.updated, stream.deleted, stream.status, set.issued, poll, ack, set.error, push,
// push.gave_up, queue.dropped.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { SignJWT, exportJWK, generateKeyPair } from "jose";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.SSF_PORT ?? "9200" },
    "receiver-token": { type: "string" },
    audience: { type: "string", default: "edge-jwt-authorizer" },
    "stream-id": { type: "string" },
    delivery: { type: "string", default: "poll" },
    "push-url": { type: "string" },
    "push-authorization": { type: "string" },
    "long-poll-ms": { type: "string", default: "2000" },
    "push-retries": { type: "string", default: "3" },
    "max-queue": { type: "string", default: "1000" },
  },
});
const receiverToken = values["receiver-token"];
if (!receiverToken) throw new Error("--receiver-token is required (the Bearer token of the stream management API)");
if (values.delivery !== "poll" && values.delivery !== "push") throw new Error("--delivery is poll or push");
if (values.delivery === "push" && !values["push-url"]) throw new Error("--delivery push needs --push-url");
const port = Number(values.port);
const LONG_POLL_MS = Math.min(Number(values["long-poll-ms"]), 10_000);
const PUSH_RETRIES = Math.min(Number(values["push-retries"]), 10);
const MAX_QUEUE = Number(values["max-queue"]);
const MAX_STREAMS = 20;
const MAX_LOG = 1000;
const MAX_BODY_BYTES = 64 * 1024;
const issuer = `http://127.0.0.1:${port}`;

const POLL = "urn:ietf:rfc:8936";
const PUSH = "urn:ietf:rfc:8935";
const SSF = "https://schemas.openid.net/secevent/ssf/event-type/";
const VERIFICATION = `${SSF}verification`;
const STREAM_UPDATED = `${SSF}stream-updated`;
const CAEP = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC = "https://schemas.openid.net/secevent/risc/event-type/";
/** CAEP 1.0 and RISC 1.0 event types (RISC sessions-revoked is deprecated, so not offered). */
const CAEP_TYPES = [
  "session-revoked",
  "token-claims-change",
  "credential-change",
  "assurance-level-change",
  "device-compliance-change",
  "session-established",
  "session-presented",
  "risk-level-change",
];
const RISC_TYPES = [
  "account-credential-change-required",
  "account-purged",
  "account-disabled",
  "account-enabled",
  "identifier-changed",
  "identifier-recycled",
  "credential-compromise",
  "opt-in",
  "opt-out-initiated",
  "opt-out-cancelled",
  "opt-out-effective",
  "recovery-activated",
  "recovery-information-changed",
];
const EVENTS_SUPPORTED = [...CAEP_TYPES.map((t) => CAEP + t), ...RISC_TYPES.map((t) => RISC + t)];

const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
const KID = "e2e-ssf-es256";
const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: KID, alg: "ES256", use: "sig" }] };

/** @typedef {"enabled" | "paused" | "disabled"} Status */
/** @typedef {{ method: string, endpoint_url?: string, authorization_header?: string }} Delivery */
/** A SET waiting for its ack (poll) or its 2xx (push); `always`: sent whatever the status (stream-updated). */
/** @typedef {{ jti: string, type: string, set: string, always: boolean }} Queued */
/**
 * @typedef {{
 *   stream_id: string, delivery: Delivery, events_requested?: string[], description?: string,
 *   status: Status, reason?: string, queue: Map<string, Queued>, waiters: Set<() => void>, pushing: boolean
 * }} Stream
 */
/** @typedef {Record<string, any>} Json */

/** @type {Map<string, Stream>} */
const streams = new Map();
/** What /test/state shows, each list capped at MAX_LOG entries (the oldest go first). */
const log = {
  /** @type {Json[]} */ issued: [],
  /** @type {Json[]} */ acked: [],
  /** @type {Json[]} */ setErrs: [],
  /** @type {Json[]} */ polls: [],
  /** @type {Json[]} */ pushes: [],
};

/** @param {Json} line */
const print = (line) => console.log(JSON.stringify({ ...line, at: Date.now() }));
/** @param {Json[]} list @param {Json} entry */
function remember(list, entry) {
  list.push(entry);
  if (list.length > MAX_LOG) list.shift();
}

// ---- Security Event Tokens --------------------------------------------------------------------

/**
 * Signs one SET: SSF 1.0 section 4.1 (explicit `typ`, the subject in `sub_id`, no `sub`, no `exp`).
 * @param {string} type @param {Json} subject @param {Json} event @param {string} [txn]
 */
async function signSet(type, subject, event, txn) {
  const jti = randomUUID();
  const claims = { sub_id: subject, events: { [type]: event }, txn: txn ?? randomUUID() };
  const set = await new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", typ: "secevent+jwt", kid: KID })
    .setIssuer(issuer)
    .setAudience(values.audience)
    .setIssuedAt()
    .setJti(jti)
    .sign(privateKey);
  return { jti, set };
}

/** @param {Stream} stream */
const eventsDelivered = (stream) => EVENTS_SUPPORTED.filter((t) => stream.events_requested?.includes(t) ?? false);

/**
 * Queues a signed SET on a stream, unless the stream is disabled (stream-updated excepted). A full
 * queue drops its oldest SET. Wakes the stream's long polls and starts a push.
 * @param {Stream} stream @param {{ jti: string, set: string }} signed @param {string} type
 */
function enqueue(stream, { jti, set }, type) {
  const always = type === STREAM_UPDATED;
  if (stream.status === "disabled" && !always) {
    print({ event: "queue.dropped", stream_id: stream.stream_id, jtis: [jti], reason: "stream disabled" });
    return false;
  }
  stream.queue.set(jti, { jti, type, set, always });
  if (stream.queue.size > MAX_QUEUE) {
    const oldest = stream.queue.keys().next().value;
    if (oldest !== undefined) stream.queue.delete(oldest);
    print({ event: "queue.dropped", stream_id: stream.stream_id, jtis: [oldest], reason: "queue full" });
  }
  wake(stream);
  return true;
}

/** The queued SETs the stream's status lets out now, oldest first. @param {Stream} stream */
const deliverable = (stream) => [...stream.queue.values()].filter((q) => q.always || stream.status === "enabled");

/** SSF 1.0 section 8.1.5: the stream's subject is the stream itself, an opaque id. @param {Stream} stream */
const streamSubject = (stream) => ({ format: "opaque", id: stream.stream_id });

/** Answers the stream's waiting long polls. @param {Stream} stream */
function release(stream) {
  for (const resolve of stream.waiters) resolve();
  stream.waiters.clear();
}

/** Something may be deliverable: answer the long polls, or push. @param {Stream} stream */
function wake(stream) {
  release(stream);
  if (stream.delivery.method === PUSH && streams.has(stream.stream_id)) void pushAll(stream);
}

// ---- Streams (SSF 1.0 section 8.1.1) ----------------------------------------------------------

/** The stream's configuration as the API shows it. @param {Stream} stream */
function configOf(stream) {
  return {
    stream_id: stream.stream_id,
    iss: issuer,
    aud: values.audience,
    delivery: stream.delivery,
    events_supported: EVENTS_SUPPORTED,
    ...(stream.events_requested ? { events_requested: stream.events_requested } : undefined),
    events_delivered: eventsDelivered(stream),
    ...(stream.description !== undefined ? { description: stream.description } : undefined),
  };
}

const pollUrl = (/** @type {string} */ streamId) => `${issuer}/ssf/poll/${encodeURIComponent(streamId)}`;

/**
 * The receiver-supplied `delivery`, checked; poll when absent (section 8.1.1.1). A poll stream's
 * endpoint_url is the transmitter's.
 * @param {unknown} raw @param {string} streamId @returns {Delivery | string} the delivery or an error
 */
function deliveryOf(raw, streamId) {
  if (raw === undefined) return { method: POLL, endpoint_url: pollUrl(streamId) };
  if (!isObject(raw)) return "delivery is not an object";
  if (raw.method === POLL) {
    if (raw.endpoint_url !== undefined && raw.endpoint_url !== pollUrl(streamId))
      return "a poll stream's endpoint_url is the transmitter's";
    return { method: POLL, endpoint_url: pollUrl(streamId) };
  }
  if (raw.method !== PUSH) return `delivery.method is neither ${PUSH} nor ${POLL}`;
  if (typeof raw.endpoint_url !== "string" || !/^https?:\/\//.test(raw.endpoint_url))
    return "a push stream needs an http(s) endpoint_url";
  if (raw.authorization_header !== undefined && typeof raw.authorization_header !== "string")
    return "delivery.authorization_header is not a string";
  return {
    method: PUSH,
    endpoint_url: raw.endpoint_url,
    ...(raw.authorization_header !== undefined ? { authorization_header: raw.authorization_header } : undefined),
  };
}

/**
 * Applies the receiver-supplied properties of a create, update (PATCH) or replace (PUT) request.
 * `replace`: those missing are deleted. Returns an error, or undefined.
 * @param {Stream} stream @param {Json} body @param {boolean} replace
 */
function applyReceiverSupplied(stream, body, replace) {
  const requested = body.events_requested;
  if (requested !== undefined && !(Array.isArray(requested) && requested.every((t) => typeof t === "string")))
    return "events_requested is not an array of strings";
  if (body.description !== undefined && typeof body.description !== "string") return "description is not a string";
  if (body.delivery !== undefined || replace) {
    const delivery = deliveryOf(body.delivery, stream.stream_id);
    if (typeof delivery === "string") return delivery;
    stream.delivery = delivery;
  }
  if (requested !== undefined || replace) stream.events_requested = requested;
  if (body.description !== undefined || replace) stream.description = body.description?.slice(0, 256);
  return undefined;
}

/** Transmitter-supplied properties in an update must match (section 8.1.1.3); the error, or undefined. */
function transmitterSuppliedMismatch(/** @type {Stream} */ stream, /** @type {Json} */ body) {
  const config = /** @type {Json} */ (configOf(stream));
  for (const name of ["iss", "aud", "events_supported", "events_delivered"])
    if (body[name] !== undefined && JSON.stringify(body[name]) !== JSON.stringify(config[name]))
      return `${name} is transmitter-supplied and does not match`;
  return undefined;
}

/** @param {string} streamId @param {Json} body @returns {Stream | string} */
function createStream(streamId, body) {
  /** @type {Stream} */
  const stream = {
    stream_id: streamId,
    delivery: { method: POLL },
    status: "enabled",
    queue: new Map(),
    waiters: new Set(),
    pushing: false,
  };
  const error = applyReceiverSupplied(stream, body, true);
  if (error) return error;
  streams.set(streamId, stream);
  print({ event: "stream.created", stream: configOf(stream) });
  return stream;
}

/**
 * Sets the status; a change queues a stream-updated SET (before the stream stops, upon re-enabling)
 * and, when disabling, drops the held events.
 * @param {Stream} stream @param {Status} status @param {string} [reason]
 */
async function setStatus(stream, status, reason) {
  const changed = stream.status !== status;
  stream.status = status;
  stream.reason = reason;
  if (!changed) return;
  if (status === "disabled") {
    const dropped = [...stream.queue.values()].filter((q) => !q.always).map((q) => q.jti);
    for (const jti of dropped) stream.queue.delete(jti);
    if (dropped.length)
      print({ event: "queue.dropped", stream_id: stream.stream_id, jtis: dropped, reason: "stream disabled" });
  }
  const event = { status, ...(reason !== undefined ? { reason } : undefined) };
  const signed = await signSet(STREAM_UPDATED, streamSubject(stream), event);
  enqueue(stream, signed, STREAM_UPDATED);
  print({ event: "stream.status", stream_id: stream.stream_id, status, reason, jti: signed.jti });
  wake(stream); // held SETs are deliverable again after enabling
}

// ---- Push delivery (RFC 8935) -----------------------------------------------------------------

/**
 * Pushes the deliverable SETs in order, one at a time. A 2xx (accepted) or another status (the
 * receiver's refusal, RFC 8935 section 2.4, recorded with the setErrs) removes a SET from the queue;
 * a 5xx, a 429 or a network error is retried, PUSH_RETRIES times at most, after which the SET stays
 * queued until the next wake (a new SET on the stream, a status change, POST /test/flush).
 * @param {Stream} stream
 */
async function pushAll(stream) {
  if (stream.pushing) return;
  stream.pushing = true;
  try {
    for (let next = deliverable(stream)[0]; next; next = deliverable(stream)[0]) {
      if (!(await pushOne(stream, next))) return;
    }
  } finally {
    stream.pushing = false;
  }
}

/** @param {Stream} stream @param {Queued} queued @returns {Promise<boolean>} whether it was settled */
async function pushOne(stream, queued) {
  for (let attempt = 1; attempt <= 1 + PUSH_RETRIES; attempt++) {
    // Acked, dropped or held since the last attempt (the stream paused, disabled, deleted, polled).
    if (stream.delivery.method !== PUSH || !streams.has(stream.stream_id)) return false;
    if (!deliverable(stream).includes(queued)) return true;
    const answer = await post(stream.delivery, queued.set);
    const entry = { stream_id: stream.stream_id, jti: queued.jti, attempt, ...answer };
    remember(log.pushes, entry);
    print({ event: "push", ...entry });
    if (answer.status >= 200 && answer.status < 300) {
      settle(stream, queued.jti, "push");
      return true;
    }
    if (answer.status !== 0 && answer.status < 500 && answer.status !== 429) {
      const error = parseJson(answer.body) ?? {};
      recordSetErr(stream, queued.jti, { err: error.err ?? `http_${answer.status}`, description: error.description });
      stream.queue.delete(queued.jti);
      return true;
    }
    if (attempt <= PUSH_RETRIES) await sleep(Math.min(200 * 2 ** (attempt - 1), 2000));
  }
  print({ event: "push.gave_up", stream_id: stream.stream_id, jti: queued.jti, attempts: 1 + PUSH_RETRIES });
  return false;
}

/** @param {Delivery} delivery @param {string} set @returns {Promise<{ status: number, body: string }>} 0: no answer */
async function post(delivery, set) {
  /** @type {Record<string, string>} */
  const headers = { "Content-Type": "application/secevent+jwt", Accept: "application/json" };
  if (delivery.authorization_header) headers.Authorization = delivery.authorization_header;
  try {
    const res = await fetch(String(delivery.endpoint_url), {
      method: "POST",
      headers,
      body: set,
      redirect: "manual",
      signal: AbortSignal.timeout(5_000),
    });
    return { status: res.status, body: (await res.text()).slice(0, 2000) };
  } catch (e) {
    const error = /** @type {Error & { cause?: { code?: string } }} */ (e);
    return { status: 0, body: `${error?.message ?? e}${error?.cause?.code ? ` (${error.cause.code})` : ""}` };
  }
}

// ---- Poll delivery (RFC 8936) -----------------------------------------------------------------

/** Removes an acknowledged SET from the queue. @param {Stream} stream @param {string} jti @param {string} via */
function settle(stream, jti, via) {
  const known = stream.queue.delete(jti);
  remember(log.acked, { stream_id: stream.stream_id, jti, via, known, at: Date.now() });
  print({ event: "ack", stream_id: stream.stream_id, jti, via, known });
}

/** @param {Stream} stream @param {string} jti @param {{ err: string, description?: string }} error */
function recordSetErr(stream, jti, { err, description }) {
  const entry = { stream_id: stream.stream_id, jti, err, description, at: Date.now() };
  remember(log.setErrs, entry);
  print({ event: "set.error", ...entry });
}

/**
 * @typedef {{
 *   ack: string[], setErrs: Record<string, { err: string, description?: string }>,
 *   maxEvents?: number, returnImmediately: boolean
 * }} PollRequest
 */
/** Checks a poll request's body (RFC 8936 section 2.4). @param {Json} body @returns {string | PollRequest} */
function pollRequestOf(body) {
  const { ack = [], setErrs = {}, maxEvents, returnImmediately = false } = body;
  if (!Array.isArray(ack) || !ack.every((j) => typeof j === "string")) return "ack is not an array of strings";
  if (!isObject(setErrs) || !Object.values(setErrs).every((e) => isObject(e) && typeof e.err === "string"))
    return "setErrs is not an object of { err, description } by jti";
  if (maxEvents !== undefined && !(Number.isInteger(maxEvents) && maxEvents >= 0))
    return "maxEvents is not a non-negative integer";
  if (typeof returnImmediately !== "boolean") return "returnImmediately is not a boolean";
  return { ack, setErrs, maxEvents, returnImmediately };
}

/**
 * One poll: acks and errors first (each removes its SET), then up to maxEvents unacked SETs, waiting
 * up to LONG_POLL_MS for one unless returnImmediately (or maxEvents 0, an acknowledgement only).
 * @param {Stream} stream @param {Json} body @param {import("node:http").ServerResponse} res
 */
async function poll(stream, body, res) {
  const request = pollRequestOf(body);
  if (typeof request === "string") return { status: 400, body: { err: "invalid_request", description: request } };
  for (const jti of request.ack) settle(stream, jti, "poll");
  for (const [jti, error] of Object.entries(request.setErrs)) {
    recordSetErr(stream, jti, error);
    stream.queue.delete(jti);
  }
  const max = request.maxEvents ?? Infinity;
  if (max > 0 && !request.returnImmediately && deliverable(stream).length === 0) await waitForEvents(stream, res);
  const ready = deliverable(stream);
  const picked = ready.slice(0, max);
  const result = { sets: Object.fromEntries(picked.map((q) => [q.jti, q.set])), moreAvailable: ready.length > max };
  const entry = {
    stream_id: stream.stream_id,
    ack: request.ack,
    setErrs: request.setErrs,
    maxEvents: request.maxEvents,
    returnImmediately: request.returnImmediately,
    delivered: picked.map((q) => q.jti),
    moreAvailable: result.moreAvailable,
    at: Date.now(),
  };
  remember(log.polls, entry);
  print({ event: "poll", ...entry });
  return { status: 200, body: result };
}

/**
 * Resolves when the stream may have a SET to deliver, the client goes away, or LONG_POLL_MS pass.
 * @param {Stream} stream @param {import("node:http").ServerResponse} res
 */
function waitForEvents(stream, res) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stream.waiters.delete(done);
      res.off("close", done);
      resolve(undefined);
    };
    const timer = setTimeout(done, LONG_POLL_MS);
    stream.waiters.add(done);
    res.once("close", done);
  });
}

// ---- HTTP -------------------------------------------------------------------------------------

/** @typedef {{ status: number, body?: unknown, headers?: Record<string, string> }} Answer */

/** @param {unknown} v @returns {v is Json} */
const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
/** @param {string} text @returns {Json | undefined} */
const parseJson = (text) => {
  try {
    const v = JSON.parse(text);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
};
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
/**
 * An error answer, in RFC 8935's shape (`err`, `description`).
 * @param {number} status @param {string} err @param {string} description @returns {Answer}
 */
const fail = (status, err, description) => ({ status, body: { err, description } });

/** @param {import("node:http").IncomingMessage} req @returns {Promise<string>} */
async function readBody(req) {
  let size = 0;
  /** @type {Buffer[]} */
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error("body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** A JSON object body ({} when empty), or undefined. @param {import("node:http").IncomingMessage} req */
async function jsonBody(req) {
  const text = await readBody(req);
  return text.trim() === "" ? {} : parseJson(text);
}

const digest = (/** @type {string} */ s) => createHash("sha256").update(s).digest();
/** The static receiver token, compared in constant time. @param {import("node:http").IncomingMessage} req */
function authorized(req) {
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  return match !== null && timingSafeEqual(digest(match[1] ?? ""), digest(String(receiverToken)));
}

function ssfConfiguration() {
  return {
    spec_version: "1_0",
    issuer,
    jwks_uri: `${issuer}/jwks.json`,
    delivery_methods_supported: [PUSH, POLL],
    configuration_endpoint: `${issuer}/ssf/stream`,
    status_endpoint: `${issuer}/ssf/status`,
    verification_endpoint: `${issuer}/ssf/verify`,
    authorization_schemes: [{ spec_urn: "urn:ietf:rfc:6749" }],
    default_subjects: "ALL",
  };
}

/** The stream a request names, or an error answer. @param {unknown} streamId @returns {Stream | Answer} */
function streamNamed(streamId) {
  if (typeof streamId !== "string" || streamId === "") return fail(400, "invalid_request", "stream_id is required");
  return streams.get(streamId) ?? fail(404, "not_found", `no stream ${streamId}`);
}
/** @param {Stream | Answer} s @returns {s is Answer} */
const isAnswer = (s) => typeof s.status === "number";

/** Configuration endpoint (section 8.1.1): POST creates, GET reads or lists, PATCH/PUT update, DELETE. */
async function configurationEndpoint(/** @type {string} */ method, /** @type {URL} */ url, /** @type {Json} */ body) {
  if (method === "POST") {
    if (streams.size >= MAX_STREAMS) return fail(403, "access_denied", `at most ${MAX_STREAMS} streams`);
    const stream = createStream(randomBytes(16).toString("hex"), body);
    return typeof stream === "string" ? fail(400, "invalid_request", stream) : { status: 201, body: configOf(stream) };
  }
  if (method === "GET" && !url.searchParams.has("stream_id"))
    return { status: 200, body: [...streams.values()].map(configOf) };
  const stream = streamNamed(
    method === "GET" || method === "DELETE" ? url.searchParams.get("stream_id") : body.stream_id,
  );
  if (isAnswer(stream)) return stream;
  if (method === "GET") return { status: 200, body: configOf(stream) };
  if (method === "DELETE") {
    streams.delete(stream.stream_id);
    print({ event: "stream.deleted", stream_id: stream.stream_id, unacked: [...stream.queue.keys()] });
    stream.queue.clear();
    release(stream);
    return { status: 204 };
  }
  if (method !== "PATCH" && method !== "PUT") return fail(405, "invalid_request", `${method} is not supported`);
  const mismatch = transmitterSuppliedMismatch(stream, body);
  const error = mismatch ?? applyReceiverSupplied(stream, body, method === "PUT");
  if (error) return fail(400, "invalid_request", error);
  print({ event: "stream.updated", stream: configOf(stream) });
  wake(stream);
  return { status: 200, body: configOf(stream) };
}

/** Status endpoint (section 8.1.2): GET reads, POST updates. */
async function statusEndpoint(/** @type {string} */ method, /** @type {URL} */ url, /** @type {Json} */ body) {
  const stream = streamNamed(method === "GET" ? url.searchParams.get("stream_id") : body.stream_id);
  if (isAnswer(stream)) return stream;
  if (method === "POST") {
    if (!["enabled", "paused", "disabled"].includes(body.status))
      return fail(400, "invalid_request", "status is enabled, paused or disabled");
    if (body.reason !== undefined && typeof body.reason !== "string")
      return fail(400, "invalid_request", "reason is not a string");
    await setStatus(stream, body.status, body.reason);
  } else if (method !== "GET") return fail(405, "invalid_request", `${method} is not supported`);
  const reason = stream.reason !== undefined ? { reason: stream.reason } : undefined;
  return { status: 200, body: { stream_id: stream.stream_id, status: stream.status, ...reason } };
}

/** Verification endpoint (section 8.1.4.2): queues a verification SET echoing `state`; 204. */
async function verificationEndpoint(/** @type {Json} */ body) {
  const stream = streamNamed(body.stream_id);
  if (isAnswer(stream)) return stream;
  if (body.state !== undefined && typeof body.state !== "string")
    return fail(400, "invalid_request", "state is not a string");
  const event = body.state !== undefined ? { state: body.state } : {};
  const signed = await signSet(VERIFICATION, streamSubject(stream), event);
  enqueue(stream, signed, VERIFICATION);
  print({ event: "set.issued", type: VERIFICATION, jti: signed.jti, streams: [stream.stream_id], state: body.state });
  return { status: 204 };
}

/**
 * TEST ONLY: issues one SET about `subject` (an RFC 9493 subject identifier) and queues it on every
 * stream that delivers `type`, or on `stream_id` only. Answers { jti, streams (where it was queued),
 * dropped (disabled streams) }; 409 when no stream delivers `type`.
 * @param {Json} body
 */
async function testEvents(body) {
  const { type, subject, event = {}, stream_id: only, txn } = body;
  if (typeof type !== "string" || !isObject(subject) || typeof subject.format !== "string" || !isObject(event))
    return fail(400, "invalid_request", "expected { type, subject: { format, ... }, event?: {}, stream_id?, txn? }");
  if (only !== undefined && !streams.has(only)) return fail(404, "not_found", `no stream ${only}`);
  const targets = [...streams.values()].filter(
    (s) => (only === undefined || s.stream_id === only) && eventsDelivered(s).includes(type),
  );
  if (targets.length === 0) return fail(409, "not_delivered", `no stream delivers ${type}`);
  const signed = await signSet(type, subject, event, typeof txn === "string" ? txn : undefined);
  const queued = targets.filter((s) => enqueue(s, signed, type)).map((s) => s.stream_id);
  const dropped = targets.map((s) => s.stream_id).filter((id) => !queued.includes(id));
  remember(log.issued, { jti: signed.jti, type, sub_id: subject, event, streams: queued, dropped, at: Date.now() });
  print({ event: "set.issued", type, jti: signed.jti, sub_id: subject, streams: queued, dropped });
  return { status: 200, body: { jti: signed.jti, streams: queued, dropped } };
}

/** TEST ONLY: everything this transmitter knows, for the test's assertions. */
function testState() {
  return {
    issuer,
    streams: [...streams.values()].map((s) => ({
      ...configOf(s),
      status: s.status,
      ...(s.reason !== undefined ? { reason: s.reason } : undefined),
      queue: [...s.queue.values()].map(({ jti, type }) => ({ jti, type })),
    })),
    ...log,
  };
}

/**
 * Routes one request to its answer.
 * @param {import("node:http").IncomingMessage} req @param {import("node:http").ServerResponse} res
 * @returns {Promise<Answer>}
 */
async function route(req, res) {
  const url = new URL(req.url ?? "/", issuer);
  const method = req.method ?? "GET";
  const path = url.pathname;
  if (method === "GET" && path === "/jwks.json") return { status: 200, body: jwks };
  if (method === "GET" && path === "/.well-known/openid-configuration")
    return { status: 200, body: { issuer, jwks_uri: `${issuer}/jwks.json` } };
  if (method === "GET" && path === "/.well-known/ssf-configuration") return { status: 200, body: ssfConfiguration() };
  if (method === "GET" && path === "/test/state") return { status: 200, body: testState() };
  const body = method === "GET" || method === "DELETE" ? {} : await jsonBody(req);
  if (body === undefined) return fail(400, "invalid_request", "the body is not a JSON object");
  if (method === "POST" && path === "/test/events") return testEvents(body);
  if (method === "POST" && path === "/test/flush") {
    for (const s of streams.values()) wake(s);
    return { status: 204 };
  }
  if (!path.startsWith("/ssf/")) return fail(404, "not_found", `no route ${method} ${path}`);
  if (!authorized(req))
    return {
      ...fail(401, "authentication_failed", "a valid Bearer token is required"),
      headers: { "WWW-Authenticate": 'Bearer realm="ssf"' },
    };
  if (path === "/ssf/stream") return configurationEndpoint(method, url, body);
  if (path === "/ssf/status") return statusEndpoint(method, url, body);
  if (method === "POST" && path === "/ssf/verify") return verificationEndpoint(body);
  const polled = /^\/ssf\/poll\/([^/]+)$/.exec(path);
  const stream = polled && streams.get(decodeURIComponent(polled[1] ?? ""));
  if (method === "POST" && stream && stream.delivery.method === POLL) return poll(stream, body, res);
  return fail(404, "not_found", `no route ${method} ${path}`);
}

const server = createServer((req, res) => {
  route(req, res)
    .catch((e) =>
      /body too large/.test(String(e?.message))
        ? fail(413, "invalid_request", `the body is over ${MAX_BODY_BYTES} bytes`)
        : fail(500, "internal", String(e?.message ?? e)),
    )
    .then(({ status, body, headers }) => {
      if (res.destroyed) return;
      const json = body === undefined ? undefined : JSON.stringify(body);
      res.writeHead(status, {
        "Cache-Control": "no-store",
        ...(json !== undefined ? { "Content-Type": "application/json" } : undefined),
        ...headers,
      });
      res.end(json);
    });
});

if (values["stream-id"]) {
  const push = values.delivery === "push";
  const delivery = push
    ? {
        method: PUSH,
        endpoint_url: values["push-url"],
        ...(values["push-authorization"] ? { authorization_header: values["push-authorization"] } : undefined),
      }
    : { method: POLL };
  const created = createStream(values["stream-id"], { delivery, events_requested: EVENTS_SUPPORTED });
  if (typeof created === "string") throw new Error(created);
}

server.listen(port, "127.0.0.1", () =>
  console.log(`listening on ${port} (issuer ${issuer}, audience ${values.audience}, streams ${[...streams.keys()]})`),
);
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, () => {
    for (const s of streams.values()) release(s);
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });

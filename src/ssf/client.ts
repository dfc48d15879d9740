// The receiver's side of a Shared Signals transmitter's HTTP API (SSF 1.0 sections 7 and 8, RFC
// 8936): its configuration, the stream's configuration (created when none is given), the stream's
// status, verification requests and polls. Every call is bounded in time and bytes, carries the
// bearer token the transmitter issued, and follows no redirect (it would carry the token along).
import { z } from "zod";
import type { TransmitterConfig } from "../config";
import { fetchBoundedJson, FetchFailed } from "../token/fetch-bounded";

export const POLL_DELIVERY = "urn:ietf:rfc:8936";
const TIMEOUT_MS = 5_000;
/** A poll answer of 1000 SETs of up to 16 KiB each would be 16 MiB; more than that is refused. */
const MAX_BYTES = 16 * 1024 * 1024;

const endpoint = z.url({ protocol: /^https?$/ });
const ConfigurationSchema = z.looseObject({
  issuer: z.string(),
  configuration_endpoint: endpoint.optional(),
  status_endpoint: endpoint.optional(),
  verification_endpoint: endpoint.optional(),
});
export type TransmitterConfiguration = z.output<typeof ConfigurationSchema>;
const StreamSchema = z.looseObject({
  stream_id: z.string(),
  delivery: z.looseObject({ method: z.string(), endpoint_url: endpoint.optional() }).optional(),
});
const StatusSchema = z.looseObject({ status: z.string(), reason: z.string().optional() });
const PollSchema = z.looseObject({
  sets: z.record(z.string(), z.string()),
  moreAvailable: z.boolean().optional(),
});
export type PollAnswer = z.output<typeof PollSchema>;

/** The events this receiver acts on, asked for when it creates a stream. */
export const EVENTS_REQUESTED = [
  "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
  "https://schemas.openid.net/secevent/caep/event-type/credential-change",
  "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
  "https://schemas.openid.net/secevent/risc/event-type/account-purged",
  "https://schemas.openid.net/secevent/risc/event-type/credential-compromise",
  "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked",
];

async function call<T>(
  t: TransmitterConfig,
  url: string,
  schema: z.ZodType<T>,
  method = "GET",
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = t.token ? { Authorization: `Bearer ${t.token}` } : {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetchBoundedJson(url, TIMEOUT_MS, MAX_BYTES, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers,
    redirect: "manual",
  });
  const parsed = schema.safeParse(answer.body);
  if (!parsed.success) throw new FetchFailed(`${new URL(url).pathname} answered an unexpected document`);
  return parsed.data;
}

export async function readConfiguration(t: TransmitterConfig): Promise<TransmitterConfiguration> {
  const doc = await call(t, t.configurationUrl, ConfigurationSchema);
  if (doc.issuer !== t.issuer) throw new FetchFailed("the SSF configuration names another issuer");
  return doc;
}

/** The poll endpoint of the configured stream, or of a poll stream created for this receiver. */
export async function pollStream(
  t: TransmitterConfig,
  doc: TransmitterConfiguration,
  streamId: string | null,
): Promise<{ streamId: string; pollUrl: string }> {
  const configEndpoint = doc.configuration_endpoint;
  if (!configEndpoint) throw new FetchFailed("the transmitter has no configuration_endpoint");
  const stream =
    streamId !== null
      ? await call(t, `${configEndpoint}?stream_id=${encodeURIComponent(streamId)}`, StreamSchema)
      : await call(t, configEndpoint, StreamSchema, "POST", {
          delivery: { method: POLL_DELIVERY },
          events_requested: EVENTS_REQUESTED,
          description: "edge-jwt-authorizer",
        });
  const url = stream.delivery?.endpoint_url;
  if (stream.delivery?.method !== POLL_DELIVERY || !url) throw new FetchFailed("the stream is not a poll stream");
  return { streamId: stream.stream_id, pollUrl: url };
}

export async function readStatus(t: TransmitterConfig, doc: TransmitterConfiguration, streamId: string) {
  if (!doc.status_endpoint) return null;
  return call(t, `${doc.status_endpoint}?stream_id=${encodeURIComponent(streamId)}`, StatusSchema);
}

/** Asks for a verification event carrying `state` (SSF 1.0 section 8.1.4.2). */
export async function requestVerification(
  t: TransmitterConfig,
  doc: TransmitterConfiguration,
  streamId: string,
  state: string,
): Promise<boolean> {
  if (!doc.verification_endpoint) return false;
  await call(t, doc.verification_endpoint, z.unknown(), "POST", { stream_id: streamId, state });
  return true;
}

/** One poll (RFC 8936 section 2.4), acknowledging and reporting what the last ones delivered. */
export function poll(
  t: TransmitterConfig,
  pollUrl: string,
  ack: string[],
  setErrs: Record<string, { err: string; description: string }>,
): Promise<PollAnswer> {
  return call(t, pollUrl, PollSchema, "POST", { ack, setErrs, maxEvents: t.maxEvents, returnImmediately: true });
}

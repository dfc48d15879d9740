// The Shared Signals receiver of one transmitter (TRANSMITTERS), a Durable Object named by its
// issuer: it polls the stream (RFC 8936) on an alarm, applies each SET to the ledger, acknowledges
// it in the next poll, asks the transmitter to verify the stream now and then (SSF 1.0 section
// 8.1.4), and follows the stream's status (stream-updated events, the status endpoint). For push
// streams it only verifies and keeps the status; /.auth/events applies their SETs.
//
// Nothing is lost or applied twice across restarts: a SET is applied (once per jti, by the ledger's
// delivery keys, src/revocation/deliveries.ts) before its jti is stored for acknowledgement, and
// acknowledged only in a later poll. A crash in between means the transmitter delivers it again,
// the ledger recognises it, and it is acknowledged then. A SET that cannot be applied for an outage
// (the ledger, the issuer's keys) is neither acknowledged nor reported: it comes again.
import { DurableObject } from "cloudflare:workers";
import { loadConfig, type Config, type TransmitterConfig } from "../config";
import { AuthError } from "../errors";
import { setErrorOf } from "../problem";
import { recordSecurityEvent } from "../revocation/deliveries";
import { securityEventRevocations } from "../revocation/security-events";
import { verifyEventToken } from "../token/event-token";
import { FetchFailed } from "../token/fetch-bounded";
import { keysOf } from "../token/jwks";
import type { KeyLookup } from "../token/verify";
import * as client from "./client";
import { applyControl, emptyStatus, type ControlEvent, type ReceiverStatus } from "./status";

/** Polls in a row at most, while the transmitter says more is available, before the next alarm. */
const MAX_POLLS_PER_ALARM = 10;
/** How long the transmitter's configuration document is kept before it is read again. */
const CONFIGURATION_TTL_MS = 3_600_000;
/** A push stream's receiver wakes this often to verify and to read the status. */
const PUSH_WAKE_MS = 3_600_000;
/** The stream's status is read from the transmitter this often (stream-updated events say it at once). */
const STATUS_READ_SECONDS = 60;
const MAX_BACKOFF_MS = 300_000;

type SetErr = { err: string; description: string };

export class SignalReceiver extends DurableObject<Env> {
  private doc: { value: client.TransmitterConfiguration; untilMs: number } | null = null;
  private failures = 0;
  /** The status an alarm is working on: control events pushed meanwhile go into it, not under it. */
  private running: ReceiverStatus | null = null;
  /** Why a polled SET was left for redelivery in this alarm (the ledger or the issuer's keys), for health. */
  private outage: string | null = null;

  /** Starts the alarm loop for `issuer`'s transmitter, unless it runs already. */
  async ensure(issuer: string): Promise<void> {
    if ((await this.ctx.storage.get("issuer")) !== issuer) await this.ctx.storage.put("issuer", issuer);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
  }

  async status(): Promise<ReceiverStatus> {
    return (await this.ctx.storage.get<ReceiverStatus>("status")) ?? emptyStatus();
  }

  /** Stream control events that arrived by push (/.auth/events). */
  async noteControl(events: ControlEvent[]): Promise<void> {
    if (this.running) applyControl(this.running, events, Date.now());
    const status = await this.status();
    applyControl(status, events, Date.now());
    await this.ctx.storage.put("status", status);
  }

  override async alarm(): Promise<void> {
    const issuer = await this.ctx.storage.get<string>("issuer");
    const config = loadConfig(this.env);
    const t = config instanceof AuthError ? undefined : config.transmitters.find((x) => x.issuer === issuer);
    if (config instanceof AuthError || t === undefined) {
      // No longer configured (or the configuration is broken): stop; a request re-arms it once fixed.
      if (!(config instanceof AuthError)) await this.ctx.storage.deleteAll();
      return;
    }
    const status = (this.running = await this.status());
    this.outage = null;
    let nextMs = t.delivery === "poll" ? t.pollIntervalSeconds * 1000 : PUSH_WAKE_MS;
    try {
      const doc = await this.configuration(t);
      const streamId = t.delivery === "poll" ? await this.pollAll(t, doc, config, status) : (t.streamId ?? null);
      status.streamId = streamId;
      if (streamId !== null) await this.maintain(t, doc, streamId, status);
      status.lastError = this.outage;
      this.failures = 0;
    } catch (e) {
      status.lastError = e instanceof FetchFailed || e instanceof AuthError ? e.message : "unexpected error";
      this.failures++;
      // The stream is read again next time, by its id (its poll endpoint may have moved); never
      // forgotten, or a receiver that created its stream would create another and lose the first's events.
      const stream = await this.ctx.storage.get<{ readAtMs: number }>("stream");
      if (stream) await this.ctx.storage.put("stream", { ...stream, readAtMs: 0 });
      nextMs = Math.min(MAX_BACKOFF_MS, nextMs * 2 ** Math.min(this.failures, 8));
    }
    status.lastRunAt = Math.floor(Date.now() / 1000);
    this.running = null;
    await this.ctx.storage.put("status", status);
    await this.ctx.storage.setAlarm(Date.now() + nextMs);
  }

  private async configuration(t: TransmitterConfig): Promise<client.TransmitterConfiguration> {
    if (this.doc && Date.now() < this.doc.untilMs) return this.doc.value;
    const value = await client.readConfiguration(t);
    this.doc = { value, untilMs: Date.now() + CONFIGURATION_TTL_MS };
    return value;
  }

  /** Polls until the transmitter has nothing more (bounded); returns the stream's id. */
  private async pollAll(
    t: TransmitterConfig,
    doc: client.TransmitterConfiguration,
    config: Config,
    status: ReceiverStatus,
  ): Promise<string> {
    const storage = this.ctx.storage;
    let stream = await storage.get<{ streamId: string; pollUrl: string; readAtMs: number }>("stream");
    const stale = stream !== undefined && Date.now() - stream.readAtMs > CONFIGURATION_TTL_MS;
    if (!stream || stale || (t.streamId !== undefined && stream.streamId !== t.streamId)) {
      // A stream this receiver created is kept by its id; a configured one by the configured id.
      stream = { ...(await client.pollStream(t, doc, t.streamId ?? stream?.streamId ?? null)), readAtMs: Date.now() };
      await storage.put("stream", stream);
    }
    for (let round = 0; round < MAX_POLLS_PER_ALARM; round++) {
      const acks = (await storage.get<string[]>("acks")) ?? [];
      const errs = (await storage.get<Record<string, SetErr>>("errs")) ?? {};
      const answer = await client.poll(t, stream.pollUrl, acks, errs);
      // The transmitter has what was sent; what this answer brings is acknowledged in the next poll.
      await storage.put({ acks: [], errs: {} });
      status.lastPollAt = Math.floor(Date.now() / 1000);
      status.acknowledged += acks.length;
      let answered = 0;
      for (const [jti, set] of Object.entries(answer.sets)) {
        const outcome = await this.apply(set, t, config, status);
        if (outcome === "retry") continue; // an outage: it comes again
        answered++;
        // Stored before the next SET: a restart from here on acknowledges it, never applies it twice.
        if (outcome === "ack") await storage.put("acks", [...((await storage.get<string[]>("acks")) ?? []), jti]);
        else
          await storage.put("errs", { ...((await storage.get<Record<string, SetErr>>("errs")) ?? {}), [jti]: outcome });
      }
      // Again at once only while the transmitter holds more: what was answered is acknowledged in
      // the next poll, which is then the next alarm's (a transmitter that redelivers applied SETs
      // is not polled ten times in a row for them).
      if (answered === 0 || !answer.moreAvailable) break;
    }
    return stream.streamId;
  }

  /** One polled SET: "ack" once applied (or already), its setErr when it is at fault, "retry" on an outage. */
  private async apply(
    set: string,
    t: TransmitterConfig,
    config: Config,
    status: ReceiverStatus,
  ): Promise<"ack" | "retry" | SetErr> {
    try {
      const keyFor: KeyLookup = (issuer, header) => keysOf(issuer).keyFor(header);
      const token = await verifyEventToken(set, "secevent", config, keyFor, Date.now(), null);
      if (token.issuer.issuer !== t.issuer)
        throw new AuthError("issuer_unknown", "The SET is not from this stream's transmitter.");
      const outcome = securityEventRevocations(token, config, Math.floor(Date.now() / 1000));
      if ((await recordSecurityEvent(this.env, token, set, outcome)) === "fresh")
        status.applied += outcome.revocations.length;
      applyControl(status, outcome.control, Date.now());
      return "ack";
    } catch (e) {
      const err = e instanceof AuthError ? setErrorOf(e) : null;
      if (err === null) {
        this.outage = `a SET was left for redelivery: ${e instanceof AuthError ? e.detail : "unexpected error"}`;
        return "retry";
      }
      status.refused++;
      return err;
    }
  }

  /** Verification now and then, and the stream's status from the transmitter. */
  private async maintain(
    t: TransmitterConfig,
    doc: client.TransmitterConfiguration,
    streamId: string,
    status: ReceiverStatus,
  ): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const v = status.verification;
    if (t.verifyIntervalSeconds > 0 && (v.requestedAt === null || now - v.requestedAt >= t.verifyIntervalSeconds)) {
      // Stored before asking: the echo may come back (pushed) before the request returns.
      const state = crypto.randomUUID();
      status.verification = { ...v, state, requestedAt: now };
      await this.ctx.storage.put("status", status);
      if (!(await client.requestVerification(t, doc, streamId, state))) status.verification = v;
    }
    if (status.stream.readAt === null || now - status.stream.readAt >= STATUS_READ_SECONDS) {
      const read = await client.readStatus(t, doc, streamId);
      if (read) status.stream = { status: read.status, reason: read.reason ?? null, readAt: now, updatedAt: now };
    }
  }
}

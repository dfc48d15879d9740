// What a Shared Signals receiver knows of its stream, for /.auth/health: polls, applied and
// refused SETs, the stream's status (stream-updated events, the status endpoint) and verification
// (the state it asked to have echoed, and when an event echoed it).
import { z } from "zod";
import { SSF_STREAM_UPDATED, SSF_VERIFICATION } from "../revocation/security-events";

export type ControlEvent = { type: string; event: Record<string, unknown> };

const when = z.number().int().nullable();
export const ReceiverStatusSchema = z.object({
  streamId: z.string().nullable(),
  lastRunAt: when,
  lastPollAt: when,
  lastError: z.string().nullable(),
  applied: z.number().int().describe("Revocations recorded from polled SETs."),
  acknowledged: z.number().int(),
  refused: z.number().int().describe("Polled SETs reported back in setErrs."),
  stream: z.object({
    status: z.string().nullable().describe("enabled, paused or disabled, as the transmitter last said."),
    reason: z.string().nullable(),
    readAt: when,
    updatedAt: when,
  }),
  verification: z.object({
    state: z.string().nullable(),
    requestedAt: when,
    verifiedAt: when.describe("When a verification event echoed the state last asked for."),
  }),
});
export type ReceiverStatus = z.output<typeof ReceiverStatusSchema>;

export function emptyStatus(): ReceiverStatus {
  return {
    streamId: null,
    lastRunAt: null,
    lastPollAt: null,
    lastError: null,
    applied: 0,
    acknowledged: 0,
    refused: 0,
    stream: { status: null, reason: null, readAt: null, updatedAt: null },
    verification: { state: null, requestedAt: null, verifiedAt: null },
  };
}

/** Folds stream control events into the status: a stream's new status, a verification's answer. */
export function applyControl(status: ReceiverStatus, events: ControlEvent[], nowMs: number): void {
  const now = Math.floor(nowMs / 1000);
  for (const { type, event } of events) {
    if (type === SSF_STREAM_UPDATED && typeof event.status === "string") {
      status.stream = {
        ...status.stream,
        status: event.status,
        reason: typeof event.reason === "string" ? event.reason : null,
        updatedAt: now,
      };
    } else if (type === SSF_VERIFICATION) {
      // Only an echo of the state last asked for verifies; a verification the transmitter sent on
      // its own (no state) says the stream works, too.
      const state = typeof event.state === "string" ? event.state : null;
      if (state === null || state === status.verification.state)
        status.verification = { ...status.verification, verifiedAt: now };
    }
  }
}

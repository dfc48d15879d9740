// The Worker's way to the Shared Signals receivers (src/ssf/receiver.ts): start each configured
// transmitter's alarm loop (on an isolate's first request and on the cron trigger), hand it the
// stream control events that came by push, and read its status for /.auth/health.
import type { Config } from "../config";
import type { SignalReceiver } from "./receiver";
import { emptyStatus, type ControlEvent, type ReceiverStatus } from "./status";

const receiverOf = (env: Env, issuer: string): DurableObjectStub<SignalReceiver> =>
  env.SIGNAL_RECEIVER.get(env.SIGNAL_RECEIVER.idFromName(issuer));

// Deliberate cache: the Configs whose receivers this isolate has started (one RPC per transmitter
// per isolate and configuration, then nothing); weak, so it goes with its Config.
const started = new WeakSet<Config>();

/** Makes sure every transmitter's receiver runs; cheap after the first call per Config (unless `always`). */
export function startReceivers(
  env: Env,
  config: Config,
  waitUntil: (p: Promise<unknown>) => void,
  always = false,
): void {
  if (config.transmitters.length === 0 || (started.has(config) && !always)) return;
  started.add(config);
  for (const t of config.transmitters)
    waitUntil(
      receiverOf(env, t.issuer)
        .ensure(t.issuer)
        .catch(() => started.delete(config)),
    );
}

export async function noteControlEvents(env: Env, config: Config, issuer: string, events: ControlEvent[]) {
  if (!config.transmitters.some((t) => t.issuer === issuer)) return;
  await receiverOf(env, issuer).noteControl(events);
}

export async function receiverStatuses(
  env: Env,
  config: Config,
): Promise<(ReceiverStatus & { issuer: string; delivery: "push" | "poll" })[]> {
  return Promise.all(
    config.transmitters.map(async (t) => ({
      issuer: t.issuer,
      delivery: t.delivery,
      ...(await receiverOf(env, t.issuer)
        .status()
        .catch(() => ({ ...emptyStatus(), lastError: "the receiver did not answer" }))),
    })),
  );
}

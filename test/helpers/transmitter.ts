// A Shared Signals transmitter on the fake network, for the receiver's workerd tests: its SSF
// configuration, one poll stream, RFC 8936 polls (unacknowledged SETs come again), verification
// requests and the stream's status. The SETs are signed by the world's issuer (its JWKS verifies them).
import type { FakeIssuer, FakeNetwork } from "./network";

export const TX_TOKEN = "transmitter-issued-receiver-token-0001";
export const SET_AUD = "rp-1";

export interface PollSeen {
  ack: string[];
  setErrs: Record<string, { err: string; description: string }>;
  authorization: string | null;
}

export class FakeTransmitter {
  readonly queue = new Map<string, string>();
  readonly polls: PollSeen[] = [];
  readonly verifications: string[] = [];
  status = "enabled";
  down = false;
  /** Acknowledgements lost on the way: the SETs they name come again. */
  dropAcks = false;
  /** The stream management calls, as "METHOD stream_id-or-empty". */
  readonly streamCalls: string[] = [];

  constructor(
    private readonly idp: FakeIssuer,
    net: FakeNetwork,
    readonly streamId = "stream-1",
  ) {
    const base = idp.issuer;
    const authorized = (r: Request) => r.headers.get("Authorization") === `Bearer ${TX_TOKEN}`;
    const json = (body: unknown, status = 200) => Response.json(body, { status });
    net.served.set(`${base}/.well-known/ssf-configuration`, () =>
      json({
        spec_version: "1_0",
        issuer: base,
        jwks_uri: idp.jwksUri,
        delivery_methods_supported: ["urn:ietf:rfc:8936"],
        configuration_endpoint: `${base}/ssf/stream`,
        status_endpoint: `${base}/ssf/status`,
        verification_endpoint: `${base}/ssf/verify`,
      }),
    );
    net.served.set(`${base}/ssf/stream`, (r) =>
      this.streamCalls.push(`${r.method} ${new URL(r.url).searchParams.get("stream_id") ?? ""}`) && !authorized(r)
        ? json({ err: "authentication_failed" }, 401)
        : json({
            stream_id: this.streamId,
            delivery: { method: "urn:ietf:rfc:8936", endpoint_url: `${base}/ssf/poll` },
          }),
    );
    net.served.set(`${base}/ssf/status`, (r) =>
      authorized(r) ? json({ stream_id: this.streamId, status: this.status }) : json({}, 401),
    );
    net.served.set(`${base}/ssf/verify`, async (r) => {
      if (!authorized(r)) return json({}, 401);
      const { state } = (await r.json()) as { state: string };
      this.verifications.push(state);
      await this.send(
        "https://schemas.openid.net/secevent/ssf/event-type/verification",
        { format: "opaque", id: this.streamId },
        { state },
      );
      return new Response(null, { status: 204 });
    });
    net.served.set(`${base}/ssf/poll`, async (r) => {
      if (this.down) throw new TypeError("connection refused");
      const body = (await r.json()) as Omit<PollSeen, "authorization">;
      this.polls.push({ ...body, authorization: r.headers.get("Authorization") });
      if (!authorized(r)) return json({ err: "authentication_failed" }, 401);
      if (!this.dropAcks) for (const jti of [...body.ack, ...Object.keys(body.setErrs ?? {})]) this.queue.delete(jti);
      return json({ sets: Object.fromEntries(this.queue), moreAvailable: false });
    });
  }

  /** Queues one SET (SSF 1.0 style: sub_id, one event); returns its jti. */
  async send(
    type: string,
    subject: unknown,
    event: Record<string, unknown> = {},
    claims: Record<string, unknown> = {},
  ) {
    const jti = crypto.randomUUID();
    const set = await this.idp.sign(
      { aud: SET_AUD, exp: null, scope: null, sub: null, jti, sub_id: subject, events: { [type]: event }, ...claims },
      { header: { typ: "secevent+jwt" } },
    );
    this.queue.set(jti, set);
    return jti;
  }
}

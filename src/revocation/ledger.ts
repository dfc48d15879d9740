// The RevocationLedger Durable Object: the single writer of revocations. It gives each one a
// strictly increasing seq and stores it in SQLite (with an outbox row) before answering, then
// publishes to KV, broadcasts it to the stream's WebSockets (hibernatable), and prunes what no valid
// token can match any more. One alarm serves both the KV retries (with backoff) and the pruning.
// A revoke may carry an Idempotency-Key (idempotency.ts): its first answer is replayed to repeats.
import { DurableObject } from "cloudflare:workers";
import { nowSec } from "../clock";
import { AuthError } from "../errors";
import { problemResponse } from "../problem";
import {
  FRESH_MAX_ENTRIES,
  FRESH_WINDOW_SECONDS,
  MAX_ACTIVE_REVOCATIONS,
  MAX_SELF_SERVICE_PER_SUBJECT,
  MAX_SELF_SERVICE_REVOCATIONS,
  SUBJECT_REVOCATION_RESERVE,
} from "../constants";
import { entryHash } from "./hashed-index";
import * as idempotency from "./idempotency";
import type { FreshHead } from "./kv-layout";
import type { Revocation, RevocationEvent, TokenFacts } from "./model";
import { publish } from "./publisher";
import * as store from "./store";

/** How long a revoke waits for its KV write before answering anyway (the outbox keeps it). */
export const PUBLISH_WAIT_MS = 2_000;
/** Retry delays for KV writes: 0.5 s doubling to a minute. */
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 60_000;
/** Backlog sent to a stream subscriber that asks for `since`, at most. */
const STREAM_BACKLOG_MAX = 100_000;
export const LEDGER_NAME = "ledger";
/** The alarm also wakes the ledger to prune; a year out is far enough for anything it holds. */
const MAX_ALARM_DELAY_MS = 365 * 86_400_000;

/**
 * Why a revoke that would add an entry is refused: the ledger is full for its kind ("full"), the
 * self-service share is ("self_service_full"), the caller's subject holds its most self-service
 * entries ("subject_limit"), or the caller's own token is revoked already ("token_revoked").
 */
export type Refusal = "full" | "self_service_full" | "subject_limit" | "token_revoked";

/** A revoke asked for by a token's holder (POST /.auth/logout), with what its token says. */
export interface SelfService {
  /** The holder's issuer and subject, the key of the per-subject quota. */
  subject: string;
  /** The caller's token: a revoked one may not revoke anything (it would keep ending new logins). */
  facts: TokenFacts;
}

/** What a revoke under an Idempotency-Key gets: an answer (first or replayed), or a refusal. */
export type KeyedRevoke =
  { outcome: "answered"; event: RevocationEvent; replayed: boolean } | { outcome: "full" } | { outcome: "key_reused" };

const hashOf = (r: Revocation) => entryHash(r.kind, r.iss ?? "", r.value);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class RevocationLedger extends DurableObject<Env> {
  private publishing: Promise<void> | null = null;
  private failures = 0;
  /** Active entries, counted once per instance and kept up to date, so a revoke never scans the table. */
  private active = 0;
  /** Of which tokens' holders made for themselves (logouts), likewise. */
  private selfService = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Stream heartbeats (the client's "ping") are answered by the runtime, without waking the ledger.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    ctx.blockConcurrencyWhile(async () => {
      store.migrate(ctx.storage.sql);
      idempotency.migrate(ctx.storage.sql);
      this.active = store.activeCount(ctx.storage.sql);
      this.selfService = store.selfServiceCount(ctx.storage.sql);
    });
  }

  /**
   * Records a revocation of the admin or the identity provider (durably, before this returns) and
   * tries to publish it to KV. Null when it does not fit (see room()), even after pruning.
   */
  async revoke(revocation: Revocation): Promise<store.Recorded | null> {
    const recorded = this.recordNow(revocation, await hashOf(revocation));
    if (typeof recorded === "string") return null;
    await this.afterRecord(recorded);
    return recorded;
  }

  /**
   * A token's holder's own revoke (POST /.auth/logout), or why not (Refusal): its quotas are
   * tighter (room()), and a revoked token may revoke nothing, checked in the same synchronous step
   * as the insert.
   */
  async logout(revocation: Revocation, selfService: SelfService): Promise<store.Recorded | Refusal> {
    const h = await hashOf(revocation); // before the check: no await may come between it and the insert
    if (store.revokedBy(this.ctx.storage.sql, selfService.facts, nowSec()) !== null) return "token_revoked";
    const recorded = this.recordNow(revocation, h, undefined, selfService.subject);
    if (typeof recorded !== "string") await this.afterRecord(recorded);
    return recorded;
  }

  /**
   * A revoke under an Idempotency-Key. The key's first request is recorded like any revoke; a repeat
   * with the same fingerprint gets the first answer again and records nothing (no new seq), one
   * with another fingerprint is refused. The lookup, the insert and the key's row run with no await
   * in between, so two concurrent requests with one key cannot both record.
   */
  async revokeOnce(revocation: Revocation, claim: idempotency.IdempotencyClaim): Promise<KeyedRevoke> {
    const h = await hashOf(revocation); // before the lookup, for the same reason
    const seen = idempotency.lookup(this.ctx.storage.sql, claim.key, nowSec());
    if (seen !== null) {
      if (seen.fingerprint !== claim.fingerprint) return { outcome: "key_reused" };
      return { outcome: "answered", event: idempotency.replay(seen, revocation), replayed: true };
    }
    const recorded = this.recordNow(revocation, h, claim);
    if (typeof recorded === "string") return { outcome: "full" };
    await this.afterRecord(recorded);
    return { outcome: "answered", event: recorded.event, replayed: false };
  }

  async feed(since: number, limit: number): Promise<RevocationEvent[]> {
    return store.feed(this.ctx.storage.sql, since, limit);
  }

  async check(facts: TokenFacts): Promise<Revocation["kind"] | null> {
    return store.revokedBy(this.ctx.storage.sql, facts, nowSec());
  }

  /** The fresh head (fresh-head.ts): every entry of the last FRESH_WINDOW_SECONDS, hashes included. */
  async freshHead(): Promise<FreshHead> {
    const sql = this.ctx.storage.sql;
    const published = store.getMeta<{ snapshot: { seq: number } | null }>(sql, "published");
    return {
      ...store.newest(sql, nowSec() - FRESH_WINDOW_SECONDS, FRESH_MAX_ENTRIES),
      seq: store.lastSeq(sql),
      snapshotSeq: published?.snapshot?.seq ?? 0,
    };
  }

  async lastSeq(): Promise<number> {
    return store.lastSeq(this.ctx.storage.sql);
  }

  async pending(): Promise<number> {
    return store.pendingOutbox(this.ctx.storage.sql).length;
  }

  /** GET /.auth/revocations/stream, forwarded by the Worker after the admin check. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return problemResponse(
        new AuthError("upgrade_required", "This route is a WebSocket: send Upgrade: websocket."),
        "",
      );
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    const since = Number(new URL(request.url).searchParams.get("since") ?? "NaN");
    if (Number.isSafeInteger(since) && since >= 0) {
      // Sent before any later broadcast can run (no await in between), so the order holds.
      let cursor = since;
      for (let sent = 0; sent < STREAM_BACKLOG_MAX;) {
        const page = store.feed(this.ctx.storage.sql, cursor, 1000);
        for (const event of page) server.send(JSON.stringify(event));
        sent += page.length;
        if (page.length < 1000) break;
        cursor = page[page.length - 1]!.seq;
      }
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (message === "ping") ws.send("pong");
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    ws.close(code === 1005 ? 1000 : code, "bye");
  }

  /**
   * Whether a new entry of this kind, for this caller, fits. Three quotas keep an attacker with many
   * logins from locking the admin out: tokens' holders may fill at most MAX_SELF_SERVICE_REVOCATIONS
   * (the rest is the admin's and the identity provider's), and one subject at most
   * MAX_SELF_SERVICE_PER_SUBJECT; sub and sid revocations, which stand for any number of per-token
   * ones, are taken beyond MAX_ACTIVE_REVOCATIONS, into a reserve no per-token entry can use.
   */
  private room(kind: Revocation["kind"], selfSubject: string | undefined): Refusal | null {
    const reserve = kind === "sub" || kind === "sid" || kind === "email" ? SUBJECT_REVOCATION_RESERVE : 0;
    if (selfSubject === undefined) return this.active < MAX_ACTIVE_REVOCATIONS + reserve ? null : "full";
    if (this.active >= MAX_ACTIVE_REVOCATIONS) return "full";
    // A subject's one sub entry is exempt from the self-service quotas: it replaces that subject's
    // per-token ones, and a victim must still be able to end every session when the share is full.
    if (kind === "sub") return null;
    if (this.selfService >= MAX_SELF_SERVICE_REVOCATIONS) return "self_service_full";
    if (store.selfServiceCount(this.ctx.storage.sql, selfSubject) >= MAX_SELF_SERVICE_PER_SUBJECT)
      return "subject_limit";
    return null;
  }

  /**
   * Stores a revocation (and the key's row, when there is one) in one transaction, or says why it
   * does not fit even after pruning. Duplicates and moves of a sub/sid always do.
   */
  private recordNow(
    revocation: Revocation,
    h: string,
    claim?: idempotency.IdempotencyClaim,
    selfSubject?: string,
  ): store.Recorded | Refusal {
    const sql = this.ctx.storage.sql;
    let refusal: Refusal | null = null;
    const attempt = () =>
      this.ctx.storage.transactionSync(() => {
        const now = nowSec();
        refusal = this.room(revocation.kind, selfSubject);
        const recorded = store.record(sql, revocation, now, refusal === null, selfSubject ?? null, h);
        if (recorded !== null && claim !== undefined) idempotency.remember(sql, claim, recorded.event, now);
        return recorded;
      });
    let recorded = attempt();
    if (recorded === null) {
      this.prune(); // full: make room from expired entries first
      recorded = attempt();
      if (recorded === null) return refusal ?? "full";
    }
    if (recorded.added) this.active++;
    this.selfService += recorded.selfServiceDelta;
    return recorded;
  }

  private async afterRecord(recorded: store.Recorded): Promise<void> {
    if (!recorded.duplicate) {
      this.broadcast(recorded.event);
      // Before the KV write: a restart during it must still find the alarm that resumes the outbox.
      await this.scheduleAlarm();
      await Promise.race([this.publishNow().catch(() => {}), sleep(PUBLISH_WAIT_MS)]);
    }
    await this.scheduleAlarm();
  }

  override async alarm(): Promise<void> {
    await this.publishNow().catch(() => {});
    this.prune();
    await this.scheduleAlarm();
  }

  private prune(): void {
    store.prune(this.ctx.storage.sql, nowSec());
    idempotency.prune(this.ctx.storage.sql, nowSec());
    this.active = store.activeCount(this.ctx.storage.sql);
    this.selfService = store.selfServiceCount(this.ctx.storage.sql);
  }

  private broadcast(event: RevocationEvent): void {
    const frame = JSON.stringify(event);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(frame);
      } catch {
        // a closing socket; its close handler cleans up
      }
    }
  }

  /** One publication at a time; it keeps going while revokes keep arriving (bounded rounds). */
  private publishNow(): Promise<void> {
    if (!this.publishing) {
      this.publishing = (async () => {
        for (let round = 0; round < 8; round++) {
          if ((await publish(this.ctx.storage.sql, this.env.REVOCATIONS)) === null) break;
        }
        this.failures = 0;
      })()
        .catch((e: unknown) => {
          this.failures++;
          throw e;
        })
        .finally(() => {
          this.publishing = null;
        });
    }
    return this.publishing;
  }

  private async scheduleAlarm(): Promise<void> {
    const sql = this.ctx.storage.sql;
    const candidates: number[] = [];
    if (store.pendingOutbox(sql).length > 0) {
      candidates.push(Date.now() + Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** this.failures));
    }
    const expiry = store.nextExpiry(sql);
    if (expiry !== null) candidates.push((expiry + 1) * 1000);
    const forget = idempotency.nextForget(sql);
    if (forget !== null) candidates.push(forget * 1000);
    if (candidates.length === 0) return;
    // Never in the past and never absurdly far: setAlarm throws outside its range, and a throw here
    // would fail every later revoke. An entry's expiry is bounded where it is made (facts.ts); this
    // is the second guard, for rows written before that bound or by hand.
    const want = Math.min(Math.max(Math.min(...candidates), Date.now() + 1), Date.now() + MAX_ALARM_DELAY_MS);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > want) await this.ctx.storage.setAlarm(want);
  }
}

export function ledgerOf(env: Env): DurableObjectStub<RevocationLedger> {
  return env.REVOCATION_LEDGER.get(env.REVOCATION_LEDGER.idFromName(LEDGER_NAME));
}

// The RevocationLedger Durable Object: the single writer of revocations (SQLite storage).
// This first version only sets up its schema so that the binding and its migration are real;
// ordering, the KV outbox and broadcasting build on it.
import { DurableObject } from "cloudflare:workers";

export class RevocationLedger extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.sql.exec(
        `CREATE TABLE IF NOT EXISTS revocations (
           seq INTEGER PRIMARY KEY AUTOINCREMENT,
           kind TEXT NOT NULL,
           value TEXT NOT NULL,
           iss TEXT NOT NULL DEFAULT '',
           at INTEGER NOT NULL,
           expires_at INTEGER NOT NULL,
           UNIQUE (kind, value, iss)
         )`,
      );
    });
  }

  /** The highest sequence number handed out so far (0 when empty). */
  async lastSeq(): Promise<number> {
    const row = this.ctx.storage.sql.exec<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM revocations").one();
    return row.seq ?? 0;
  }
}

// Every recorded answer judged against what the token was at the time the request left.
//
//   never revoked (and not the target of a revoke that went unanswered): anything but 200 is a
//     valid token denied;
//   revoked: a 200 for a request sent more than the bound after the revoke's 200 is a revoked token
//     that passed after the bound; a 200 sent earlier than that is within the window (allowed,
//     counted); a 401 token_revoked is the denial; anything else is unexpected. A denial answered
//     before the revoke was even sent is a valid token denied too.
//   status 0 (no HTTP answer: refused, reset, timed out) is a connection error, whatever the token.
import { percentile } from "../../bench/lib/round.mjs";

const EXAMPLES = 10;

/**
 * @param {{
 *   rec: import("./http.mjs").Recorder, tokenCount: number,
 *   revocations: import("./revoker.mjs").RevocationResult[], boundMs: number,
 * }} o
 */
export function judge({ rec, tokenCount, revocations, boundMs }) {
  /** When each token was revoked (the 200 arrived), when its revoke left, and whether it is in doubt. */
  const revokedAt = new Float64Array(tokenCount).fill(NaN);
  const revokeSentAt = new Float64Array(tokenCount).fill(NaN);
  const uncertain = new Uint8Array(tokenCount);
  for (const r of revocations) {
    for (const i of r.tokens) {
      if (r.revokedAt === null) uncertain[i] = 1;
      else {
        revokedAt[i] = r.revokedAt;
        revokeSentAt[i] = r.sentAt;
      }
    }
  }

  const out = {
    requests: rec.length,
    bySource: /** @type {Record<string, number>} */ ({}),
    validDenied: 0,
    revokedPassedAfterBound: 0,
    passesWithinWindow: 0,
    revokedDenied: 0,
    unexpected: 0,
    connectionErrors: 0,
    uncertainAnswers: 0,
    /** The latest a revoked token passed, counted from its revoke's 200 (send time of the request). */
    lastPassAfterRevokeMs: -Infinity,
    /** @type {Record<string, number>} */
    nonOkByCode: {},
    examples: {
      /** @type {object[]} */ validDenied: [],
      /** @type {object[]} */ revokedPassedAfterBound: [],
      /** @type {object[]} */ unexpected: [],
      /** @type {object[]} */ connectionErrors: [],
    },
  };
  const example = (
    /** @type {object[]} */ list,
    /** @type {number} */ row,
    /** @type {Record<string, unknown>} */ extra = {},
  ) => {
    if (list.length >= EXAMPLES) return;
    const i = /** @type {number} */ (rec.token[row]);
    list.push({
      token: i,
      source: rec.source[row],
      sentAtS: round3(/** @type {number} */ (rec.sent[row]) / 1000),
      status: rec.status[row],
      code: rec.codes.get(row) ?? null,
      ...extra,
    });
  };

  for (let row = 0; row < rec.length; row++) {
    const i = /** @type {number} */ (rec.token[row]);
    const status = /** @type {number} */ (rec.status[row]);
    const sent = /** @type {number} */ (rec.sent[row]);
    const done = /** @type {number} */ (rec.done[row]);
    const code = rec.codes.get(row) ?? null;
    const source = /** @type {string} */ (rec.source[row]);
    out.bySource[source] = (out.bySource[source] ?? 0) + 1;
    if (status !== 200) out.nonOkByCode[code ?? String(status)] = (out.nonOkByCode[code ?? String(status)] ?? 0) + 1;

    if (status === 0) {
      out.connectionErrors++;
      example(out.examples.connectionErrors, row);
      continue;
    }
    if (uncertain[i]) {
      out.uncertainAnswers++;
      continue;
    }
    const at = /** @type {number} */ (revokedAt[i]);
    if (Number.isNaN(at) || done < /** @type {number} */ (revokeSentAt[i])) {
      if (status !== 200) {
        out.validDenied++;
        example(out.examples.validDenied, row, { revoked: !Number.isNaN(at) });
      }
      continue;
    }
    if (status === 200) {
      if (sent < at) continue; // left before the revoke was answered: may pass
      out.lastPassAfterRevokeMs = Math.max(out.lastPassAfterRevokeMs, sent - at);
      if (sent > at + boundMs) {
        out.revokedPassedAfterBound++;
        example(out.examples.revokedPassedAfterBound, row, { msAfterRevoke: Math.round(sent - at) });
      } else {
        out.passesWithinWindow++;
      }
    } else if (status === 401 && code === "token_revoked") {
      out.revokedDenied++;
    } else {
      out.unexpected++;
      example(out.examples.unexpected, row, { msAfterRevoke: Math.round(sent - at) });
    }
  }
  return out;
}

/**
 * From each revoke's 200 to the first denial the watch saw (send time of the denied request).
 * @param {import("./revoker.mjs").RevocationResult[]} revocations
 */
export function denialTimes(revocations) {
  const ms = revocations
    .filter((r) => r.revokedAt !== null && r.firstDenialAt !== null)
    .map((r) => /** @type {number} */ (r.firstDenialAt) - /** @type {number} */ (r.revokedAt));
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    n: ms.length,
    neverDenied: revocations.filter((r) => r.revokedAt !== null && r.firstDenialAt === null).length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? /** @type {number} */ (sorted[sorted.length - 1]) : NaN,
  };
}

/**
 * Every acknowledged revocation must be in the ledger's feed under its seq, as what was revoked.
 * @param {import("./revoker.mjs").RevocationResult[]} revocations
 * @param {Map<number, any>} feed events by seq
 * @param {string} iss
 */
export function missingFromFeed(revocations, feed, iss) {
  /** @type {object[]} */
  const missing = [];
  for (const r of revocations) {
    if (r.revokedAt === null) continue;
    const event = feed.get(/** @type {number} */ (r.seq));
    // {"token"} is stored as the jti it carries; `sub` was sent without an issuer (any issuer).
    const kind = r.kind === "token" ? "jti" : r.kind;
    const wantIss = r.kind === "sub" ? null : iss;
    const ok =
      event && event.revocation.kind === kind && event.revocation.value === r.value && event.revocation.iss === wantIss;
    if (!ok) missing.push({ k: r.k, kind: r.kind, value: r.value, seq: r.seq, found: event ?? null });
  }
  return missing;
}

/** @param {number} x */
export const round3 = (x) => Math.round(x * 1000) / 1000;

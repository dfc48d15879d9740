// What the command line prints, and its exit status. Human lines by default, short and one fact
// each; with --json, JSON exactly as the authorizer sent it (one value per line). Values that came
// from the ledger are quoted when they hold anything but printable ASCII, so a subject cannot
// write escape sequences to an operator's terminal.
import type {
  FeedPage,
  Health,
  Revocation,
  RevocationClientError,
  RevocationEvent,
  RevokeResult,
} from "../client/index.js";
import type { UsageError } from "./args.js";
import { PROGRAM } from "./help.js";

export const EXIT = {
  ok: 0,
  /** The authorizer answered 4xx. */
  refused: 1,
  usage: 2,
  /** No answer (network, timeout), a 5xx, or an answer of the wrong shape, after the client's retries. */
  unavailable: 3,
} as const;

export function exitCodeOf(error: RevocationClientError): number {
  if (error.status !== null && error.status >= 400 && error.status < 500) return EXIT.refused;
  if (error.code === "request_invalid") return EXIT.usage;
  return EXIT.unavailable;
}

const shown = (value: string) => (/^[\x21-\x7e]+$/.test(value) ? value : JSON.stringify(value));
const time = (unixSeconds: number) => new Date(unixSeconds * 1000).toISOString().replace(".000Z", "Z");

function revocationText(r: Revocation): string {
  const issuer = r.iss === null ? "any issuer" : `iss ${shown(r.iss)}`;
  return `${r.kind} ${shown(r.value)} (${issuer}; until ${time(r.expiresAt)})`;
}

export function revokeLines(result: RevokeResult, json: boolean): string[] {
  return [json ? JSON.stringify(result) : `seq ${result.seq}: revoked ${revocationText(result.revocation)}`];
}

export function eventLine(event: RevocationEvent, json: boolean): string {
  return json ? JSON.stringify(event) : `seq ${event.seq} at ${time(event.at)}: ${revocationText(event.revocation)}`;
}

export function feedLines(page: FeedPage, json: boolean): string[] {
  if (json) return [JSON.stringify(page)];
  const lines = page.events.map((e) => eventLine(e, false));
  lines.push(page.next === null ? "end of the feed" : `next page: --since ${page.next}`);
  return lines;
}

export function healthLines(health: Health, json: boolean): string[] {
  if (json) return [JSON.stringify(health)];
  const age = (seconds: number | null) => (seconds === null ? "never read" : `read ${seconds} s ago`);
  const failed = (error: string | null) => (error === null ? "" : `; last error: ${shown(error)}`);
  const { view, maxStalenessSeconds } = health.revocation;
  return [
    health.status,
    ...health.issuers.map(
      (i) =>
        `issuer ${shown(i.issuer)}: ${i.jwks.keys} key(s), ${i.jwks.fresh ? "fresh" : "stale"}, ` +
        `${age(i.jwks.ageSeconds)}${failed(i.jwks.lastError)}`,
    ),
    `revocations: seq ${view.seq}, ${age(view.ageSeconds)} via ${view.path ?? "nothing yet"} ` +
      `(at most ${maxStalenessSeconds} s stale)${failed(view.lastError)}`,
  ];
}

/** The stderr line of a failed call: the problem's status, code and detail. */
export function errorLine(error: RevocationClientError, json: boolean): string {
  const { status, code, title, detail, attempts } = error;
  if (json) return JSON.stringify({ error: { status, code, title, detail, attempts } });
  const what = exitCodeOf(error) === EXIT.refused ? "refused" : status === null ? "unreachable" : "failed";
  const tries = attempts > 1 ? ` (${attempts} attempts)` : "";
  return `${PROGRAM}: ${what}: ${code}${status === null ? "" : ` (${status})`}: ${detail}${tries}`;
}

/** Always for a person: with a command line this program cannot read, --json may not be known. */
export function usageLines(error: UsageError): string[] {
  const help = error.command === null ? `${PROGRAM} --help` : `${PROGRAM} ${error.command} --help`;
  return [`${PROGRAM}: ${error.message}`, `Run "${help}" for usage.`];
}

/** follow()'s notes on stderr: a dropped connection, and where it stopped. */
export function reconnectLine(error: RevocationClientError, json: boolean): string {
  const { status, code, detail } = error;
  if (json) return JSON.stringify({ reconnecting: { status, code, detail } });
  return `${PROGRAM}: stream dropped, reconnecting: ${code}${status === null ? "" : ` (${status})`}: ${detail}`;
}

export function stoppedLine(lastSeq: number, json: boolean): string {
  return json
    ? JSON.stringify({ stopped: { lastSeq } })
    : `${PROGRAM}: stopped after seq ${lastSeq}; resume with --since ${lastSeq}`;
}

// What --help prints, for the program and for each command. Kept beside docs/client.md's
// "Command line" section, which says the same at more length.
import { ADMIN_TOKEN_ENV, URL_ENV, type CommandName } from "./args.js";

export const PROGRAM = "edge-jwt-authorizer";

const OPTIONS = `  --url <url>   the authorizer's base URL, where it answers /.auth/* (default: $${URL_ENV})
  --json        machine output: JSON on stdout (one value per line), and on stderr
  -h, --help    this help`;

const COMMON = `Options of every command:
${OPTIONS}

The admin token (one of the authorizer's ADMIN_TOKENS) is read from $${ADMIN_TOKEN_ENV} only.`;

const PROGRAM_HELP = `Usage: ${PROGRAM} <command> [options]

Revoke tokens at an edge-jwt-authorizer and read its revocations, from the command line.

Commands:
  revoke   deny a subject's or a session's tokens, or one token
  feed     print one page of the revocation feed
  follow   print each revocation as it is recorded, until stopped
  health   print the authorizer's health

Options:
${OPTIONS}
  --version     print the version

Environment:
  ${URL_ENV}            the base URL, when --url is not given
  ${ADMIN_TOKEN_ENV}    the admin token (never a flag: flags end up in shell history)

Exit status: 0 done; 1 the authorizer refused (4xx: its problem code and detail are printed);
2 usage error; 3 the authorizer was unreachable, timed out or failed (5xx), after retries.

Run "${PROGRAM} <command> --help" for a command's options.`;

const COMMAND_HELP: Record<CommandName, string> = {
  revoke: `Usage: ${PROGRAM} revoke --sub <sub> [--iss <issuer>]
       ${PROGRAM} revoke --sid <sid> [--iss <issuer>]
       ${PROGRAM} revoke --jti <jti> --exp <unix> [--iss <issuer>]
       ${PROGRAM} revoke --token <jwt | ->

Deny every token of a subject ("log out everywhere") or of a session issued until now, or one token.
Prints the revocation and the seq the ledger gave it.

  --sub <sub>      every token of this subject issued until now
  --sid <sid>      every token of this session issued until now
  --jti <jti>      the token with this jti, until --exp
  --exp <unix>     with --jti: the token's exp, in Unix seconds
  --token <jwt>    this token (by its jti, or its SHA-256 without one), until its exp;
                   "-" reads it from stdin, which keeps it out of shell history
  --iss <issuer>   only tokens of this issuer (default: any issuer)

A run is one request, retried under one Idempotency-Key; running it again later revokes again,
from then.

${COMMON}`,
  feed: `Usage: ${PROGRAM} feed [--since <seq>] [--limit <n>]

Print one page of the ordered revocation feed: the events after --since, oldest first, then the
--since of the next page. Superseded and expired revocations are gone, so seqs have gaps.

  --since <seq>   events after this seq (default 0)
  --limit <n>     at most this many, 1 to 1000 (default 100)

${COMMON}`,
  follow: `Usage: ${PROGRAM} follow [--since <seq>]

Print the revocations after --since, then each new one as the ledger records it, one line per
event (with --json, one JSON object), until stopped (Ctrl-C or SIGTERM; exit status 0). When the
connection drops it reconnects, with backoff, after the last seq printed: nothing is missed or
printed twice. Reconnections are told on stderr, and on exit the last seq printed, to resume from.

  --since <seq>   start after this seq (default 0: every revocation the ledger holds)

${COMMON}`,
  health: `Usage: ${PROGRAM} health

Print the authorizer's health, as the edge isolate that answered sees it: its issuers and their
keys, and how far its view of revocations lags. With --json, the whole answer.

${COMMON}`,
};

export function helpText(command: CommandName | null): string {
  return command === null ? PROGRAM_HELP : COMMAND_HELP[command];
}

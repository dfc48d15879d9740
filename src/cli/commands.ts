// Each command, run with the typed client: one call (or follow's stream) and its lines. The
// process (stdout, stdin, signals) comes in as Io, so the commands hold no process wiring.
import type { RevocationClient, RevokeResult } from "../client/index.js";
import { UsageError, type Command, type RevokeTarget } from "./args.js";
import { eventLine, feedLines, healthLines, reconnectLine, revokeLines, stoppedLine } from "./output.js";

export interface Io {
  /** Writes a line to stdout; resolves once it is written (so a slow reader slows follow down), false
   * when it could not be: whatever read stdout is gone. */
  out(line: string): Promise<boolean>;
  err(line: string): void;
  /** Stdin, for --token -: all of it, or its first chars past maxChars. */
  readStdin(maxChars: number): Promise<string>;
  /** Stops follow (SIGINT, SIGTERM, stdout closed). */
  stop: AbortSignal;
}

/** A JWT is far smaller; the authorizer refuses bodies over 16 KiB anyway. */
const MAX_STDIN_TOKEN_CHARS = 64 * 1024;

export async function runCommand(command: Command, client: RevocationClient, json: boolean, io: Io): Promise<void> {
  const print = async (lines: string[]) => {
    for (const line of lines) await io.out(line);
  };
  switch (command.name) {
    case "revoke":
      return print(revokeLines(await revoke(client, command.target, io), json));
    case "feed":
      return print(feedLines(await client.feed({ since: command.since, limit: command.limit }), json));
    case "health":
      return print(healthLines(await client.health(), json));
    case "follow": {
      // What to resume from is the last line written, which is the client's last delivered seq
      // unless the reader went away with a line in flight.
      let printed = command.since;
      await client.follow({
        since: command.since,
        signal: io.stop,
        onEvent: async (event) => {
          if (await io.out(eventLine(event, json))) printed = event.seq;
        },
        onError: (error) => io.err(reconnectLine(error, json)),
      });
      io.err(stoppedLine(printed, json));
      return;
    }
  }
}

async function revoke(client: RevocationClient, target: RevokeTarget, io: Io): Promise<RevokeResult> {
  if ("token" in target) return client.revokeToken(target.token === "-" ? await tokenFromStdin(io) : target.token);
  if ("jti" in target) return client.revokeJti(target);
  if ("sid" in target) return client.revokeSession(target);
  return client.revokeSubject(target);
}

async function tokenFromStdin(io: Io): Promise<string> {
  const text = (await io.readStdin(MAX_STDIN_TOKEN_CHARS)).trim();
  if (text === "" || text.length > MAX_STDIN_TOKEN_CHARS || /\s/.test(text))
    throw new UsageError("--token - reads one token from stdin: no more, no less", "revoke");
  return text;
}

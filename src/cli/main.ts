#!/usr/bin/env node
// The `edge-jwt-authorizer` bin: reads the command line and the environment, runs the command with
// the typed client, and exits 0 (done), 1 (refused, 4xx), 2 (usage) or 3 (unreachable, 5xx). Only
// the process wiring lives here: stdout (a line at a time, written before the next), stdin, signals,
// the version.
import { readFileSync } from "node:fs";
import { RevocationClient, RevocationClientError } from "../client/index.js";
import { ADMIN_TOKEN_ENV, parseCommandLine, URL_ENV, UsageError, type Run } from "./args.js";
import { runCommand, type Io } from "./commands.js";
import { helpText } from "./help.js";
import { errorLine, EXIT, exitCodeOf, usageLines } from "./output.js";

/** Anything else is a bug in this program; its stack is printed. */
const EXIT_INTERNAL = 70;

async function main(argv: string[]): Promise<number> {
  let invocation;
  try {
    invocation = parseCommandLine(argv, process.env);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    for (const line of usageLines(e)) process.stderr.write(`${line}\n`);
    return EXIT.usage;
  }
  if (invocation.kind === "help") process.stdout.write(`${helpText(invocation.command)}\n`);
  else if (invocation.kind === "version") process.stdout.write(`${version()}\n`);
  else return run(invocation);
  return EXIT.ok;
}

async function run(invocation: Run): Promise<number> {
  const stop = new AbortController();
  const io: Io = {
    out: lineWriter(stop),
    err: (line) => process.stderr.write(`${line}\n`),
    readStdin,
    stop: stop.signal,
  };
  if (invocation.command.name === "follow") {
    process.once("SIGINT", () => stop.abort());
    process.once("SIGTERM", () => stop.abort());
  }
  try {
    await runCommand(invocation.command, clientFor(invocation), invocation.json, io);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof RevocationClientError) {
      io.err(errorLine(e, invocation.json));
      return exitCodeOf(e);
    }
    if (!(e instanceof UsageError)) throw e;
    for (const line of usageLines(e)) io.err(line);
    return EXIT.usage;
  }
}

/** The client's constructor says what it cannot use: a URL that is not http(s), a token with spaces. */
function clientFor({ baseUrl, adminToken, command }: Run): RevocationClient {
  try {
    return new RevocationClient({ baseUrl, adminToken });
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    const what = `--url or ${URL_ENV}, and ${ADMIN_TOKEN_ENV}`;
    throw new UsageError(`${e.message.replace(/^RevocationClient: /, "")} (from ${what})`, command.name);
  }
}

/** Writes a line and waits until it is written; once the reader is gone (EPIPE), stops follow. */
function lineWriter(stop: AbortController): (line: string) => Promise<boolean> {
  let closed = false;
  process.stdout.on("error", () => {
    closed = true;
    stop.abort();
  });
  return (line) =>
    new Promise((resolve) => {
      if (closed) return resolve(false);
      process.stdout.write(`${line}\n`, (error) => resolve(!error));
    });
}

async function readStdin(maxChars: number): Promise<string> {
  let text = "";
  process.stdin.setEncoding("utf8");
  for await (const chunk of process.stdin) {
    text += chunk as string;
    if (text.length > maxChars) break;
  }
  return text;
}

function version(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  return (pkg as { version: string }).version;
}

main(process.argv.slice(2)).then(
  (code) => void (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = EXIT_INTERNAL;
  },
);

// The command line as an operator runs it: `node dist/cli/main.js` (npm run build:client first) as a
// child process, with EDGE_AUTHORIZER_URL and EDGE_AUTHORIZER_ADMIN_TOKEN, against `wrangler dev`
// with the demo issuer and origin; what it prints and its exit status (0 done, 1 refused, 2 usage,
// 3 unreachable or 5xx). Every child is stopped by its pid, every wait bounded.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mint } from "../../scripts/demo-keys.mjs";
import { eventually, freePort, startStack, type Stack } from "./harness";

const MAIN = "dist/cli/main.js";
/** Longest any one run may take; a run past it is killed and the test fails on its exit status. */
const RUN_TIMEOUT_MS = 30_000;
const STALENESS_SECONDS = 2;

let stack: Stack;
beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build:client first`);
  stack = await startStack({ REVOCATION_MAX_STALENESS_SECONDS: String(STALENESS_SECONDS) });
});
afterAll(async () => {
  await stack?.stop();
});

const running = new Set<ChildProcessWithoutNullStreams>();
afterEach(() => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  running.clear();
});

interface Run {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  /** The exit status, once the process has closed (killed after RUN_TIMEOUT_MS: null). */
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string> = {}, timeoutMs = RUN_TIMEOUT_MS): Run {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      EDGE_AUTHORIZER_URL: stack.gateway,
      EDGE_AUTHORIZER_ADMIN_TOKEN: stack.adminToken,
      ...env,
    },
  });
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exited = new Promise<number | null>((resolve) =>
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs the CLI to its end, with `input` on stdin. */
async function cli(args: string[], options: { env?: Record<string, string>; input?: string } = {}) {
  const run = start(args, options.env);
  run.child.stdin.end(options.input ?? "");
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

const token = (claims: Record<string, unknown>) => mint(claims, { file: stack.keyFile, issuer: stack.issuer });
const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as { jti: string };
const status = async (jwt: string) =>
  (await fetch(`${stack.gateway}/x`, { headers: { Authorization: `Bearer ${jwt}` } })).status;

/** Revokes through the CLI, --json, and answers what it printed. */
async function revoke(...args: string[]): Promise<{ seq: number; revocation: Record<string, unknown> }> {
  const { code, stdout, stderr } = await cli(["revoke", ...args, "--json"]);
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout);
}

describe("revoke", () => {
  it("revokes a subject of one issuer and prints the result, with its seq, as JSON", async () => {
    const result = await revoke("--sub", "cli-alice", "--iss", stack.issuer);
    expect(result.seq).toBeGreaterThan(0);
    expect(result.revocation).toMatchObject({ kind: "sub", value: "cli-alice", iss: stack.issuer });
  });

  it("revokes a token given as a flag, or read from stdin with --token -, and the gateway denies it", async () => {
    const [flagged, piped] = [await token({ sub: "cli-t1" }), await token({ sub: "cli-t2" })];
    expect(await status(piped)).toBe(200);
    const byFlag = await revoke("--token", flagged);
    expect(byFlag.revocation).toMatchObject({ kind: "jti", value: claimsOf(flagged).jti });
    const byStdin = await cli(["revoke", "--token", "-", "--json"], { input: `${piped}\n` });
    expect(byStdin.code).toBe(0);
    expect(JSON.parse(byStdin.stdout).revocation).toMatchObject({ kind: "jti", value: claimsOf(piped).jti });
    expect(byStdin.stdout + byStdin.stderr).not.toContain(piped);
    expect(await eventually(async () => (await status(piped)) === 401, STALENESS_SECONDS * 1000 + 1000)).toBe(true);
  });

  it("revokes a session of one issuer, and a jti of any issuer until its exp", async () => {
    const sid = await revoke("--sid", "cli-session-1", "--iss", stack.issuer);
    expect(sid.revocation).toMatchObject({ kind: "sid", value: "cli-session-1", iss: stack.issuer });
    const jti = await revoke("--jti", "cli-jti-1", "--exp", String(Math.floor(Date.now() / 1000) + 600));
    expect(jti).toMatchObject({ seq: sid.seq + 1, revocation: { kind: "jti", value: "cli-jti-1", iss: null } });
  });

  it("prints one short line without --json", async () => {
    const { code, stdout, stderr } = await cli(["revoke", "--sub", "cli-human"]);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toMatch(/^seq \d+: revoked sub cli-human \(any issuer; until \d{4}-\d\d-\d\dT[\d:]+Z\)\n$/);
  });
});

describe("feed", () => {
  it("prints a page at a time: --limit, then the next page from the --since it names, to the end", async () => {
    const seqs: number[] = [];
    for (const i of [0, 1, 2]) seqs.push((await revoke("--sid", `cli-feed-${i}`)).seq);
    const since = String(seqs[0]! - 1);

    const first = await cli(["feed", "--since", since, "--limit", "2", "--json"]);
    expect(first.code).toBe(0);
    const page = JSON.parse(first.stdout);
    expect(page.events.map((e: { seq: number }) => e.seq)).toEqual(seqs.slice(0, 2));
    expect(page.next).toBe(seqs[1]);
    const last = JSON.parse((await cli(["feed", "--since", String(page.next), "--limit", "2", "--json"])).stdout);
    expect(last).toMatchObject({ events: [{ seq: seqs[2], revocation: { kind: "sid", value: "cli-feed-2" } }] });
    expect(last.next).toBeNull();

    const human = await cli(["feed", "--since", since, "--limit", "2"]);
    expect(human.code).toBe(0);
    expect(human.stdout.trimEnd().split("\n")).toEqual([
      expect.stringMatching(new RegExp(`^seq ${seqs[0]} at \\S+Z: sid cli-feed-0 \\(any issuer; until \\S+Z\\)$`)),
      expect.stringMatching(new RegExp(`^seq ${seqs[1]} at \\S+Z: sid cli-feed-1 `)),
      `next page: --since ${seqs[1]}`,
    ]);
    const end = await cli(["feed", "--since", String(seqs[2])]);
    expect(end.stdout).toBe("end of the feed\n");
  });
});

describe("follow", () => {
  /** The seqs of the lines printed so far: JSON lines, or human ones ("seq N at ..."). */
  const printed = (run: Run) =>
    run
      .stdout()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => (l.startsWith("{") ? (JSON.parse(l) as { seq: number }).seq : Number(/^seq (\d+) /.exec(l)?.[1])));

  async function stopByPid(run: Run): Promise<number | null> {
    process.kill(run.child.pid!, "SIGTERM");
    return run.exited;
  }

  it("prints each revocation as one JSON line as it is recorded, and stops on SIGTERM with the seq to resume from", async () => {
    const before = (await revoke("--sub", "cli-before-follow")).seq;
    const follow = start(["follow", "--since", String(before - 1), "--json"]);
    // the backlog holds one event: its line says the stream is open
    expect(await eventually(() => printed(follow).length === 1, 15_000), follow.stderr()).toBe(true);
    const live = (await revoke("--sub", "cli-live")).seq;
    expect(await eventually(() => printed(follow).length === 2, 10_000), follow.stderr()).toBe(true);
    expect(JSON.parse(follow.stdout().split("\n")[1]!)).toMatchObject({
      seq: live,
      revocation: { kind: "sub", value: "cli-live" },
    });

    expect(await stopByPid(follow)).toBe(0);
    expect(printed(follow)).toEqual([before, live]);
    expect(JSON.parse(follow.stderr().trim())).toEqual({ stopped: { lastSeq: live } });
  });

  it("stops when whatever reads its output goes away, as in `follow | head -n 1`", async () => {
    const before = (await revoke("--sub", "cli-before-reader")).seq;
    const follow = start(["follow", "--since", String(before - 1)]);
    expect(await eventually(() => printed(follow).length === 1, 15_000), follow.stderr()).toBe(true);
    follow.child.stdout.destroy(); // the reader is gone: the next line written meets a closed pipe
    await revoke("--sub", "cli-after-reader");
    expect(await follow.exited).toBe(0);
    expect(follow.stderr()).toContain(`stopped after seq ${before}`);
  });

  it("resumes after the gateway restarts from the last seq it printed: no gap, no line twice", async () => {
    const first = (await revoke("--sub", "cli-follow-0")).seq;
    const follow = start(["follow", "--since", String(first - 1)], {}, 90_000);
    expect(await eventually(() => printed(follow).length === 1, 15_000), follow.stderr()).toBe(true);

    await stack.restartGateway();
    const after = [(await revoke("--sub", "cli-follow-1")).seq, (await revoke("--sub", "cli-follow-2")).seq];
    expect(await eventually(() => printed(follow).at(-1) === after[1], 30_000), follow.stderr()).toBe(true);

    expect(await stopByPid(follow)).toBe(0);
    expect(printed(follow)).toEqual([first, ...after]);
    expect(follow.stderr()).toContain("stream dropped");
    expect(follow.stderr()).toContain(`resume with --since ${after[1]}\n`);
  });
});

describe("health", () => {
  it("prints the authorizer's health: all of it with --json, a summary without", async () => {
    const json = await cli(["health", "--json"]);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout);
    expect(body).toMatchObject({ status: "ok", issuers: [{ issuer: stack.issuer }] });
    expect(body).toHaveProperty("originUrl"); // only an admin sees it: the token went along

    const human = await cli(["health"]);
    expect(human.code).toBe(0);
    const lines = human.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("ok");
    expect(lines[1]).toMatch(new RegExp(`^issuer ${stack.issuer}: \\d+ key\\(s\\), (fresh|stale), `));
    expect(lines[2]).toMatch(/^revocations: seq \d+, /);
  });
});

describe("help, version and usage errors", () => {
  it.each([[[]], [["revoke"]], [["feed"]], [["follow"]], [["health"]]])(
    "%j --help prints its usage and exits 0, without a URL or a token",
    async (command) => {
      const { code, stdout } = await cli([...command, "--help"], {
        env: { EDGE_AUTHORIZER_URL: "", EDGE_AUTHORIZER_ADMIN_TOKEN: "" },
      });
      expect(code).toBe(0);
      expect(stdout).toMatch(new RegExp(`^Usage: edge-jwt-authorizer ${command[0] ?? "<command>"}`));
    },
  );

  it("--version prints package.json's version", async () => {
    const { version } = JSON.parse(readFileSync("package.json", "utf8"));
    expect(await cli(["--version"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  const usageErrors: [string[], string, Record<string, string>?][] = [
    [[], "no command given"],
    [["frob"], 'unknown command "frob"'],
    [["revoke"], "revoke takes one of --sub, --sid, --jti (with --exp) or --token"],
    [["revoke", "--sub", "a", "--sid", "b"], "not --sub and --sid"],
    [["revoke", "--jti", "j"], "--jti needs --exp"],
    [["revoke", "--token", "t", "--iss", "i"], "--iss does not go with --token"],
    [["feed", "--limit", "ten"], "--limit must be an integer"],
    [["feed", "--bogus"], "Unknown option '--bogus'"],
    [["health", "--sub", "a"], "health does not take --sub"],
    [["follow", "extra"], 'unexpected argument "extra"'],
    [["health", "--url", "ftp://example.com"], "baseUrl must be an http: or https: URL"],
    [["health"], "an admin token is needed in EDGE_AUTHORIZER_ADMIN_TOKEN", { EDGE_AUTHORIZER_ADMIN_TOKEN: "" }],
    [["health"], "--url <url> or EDGE_AUTHORIZER_URL", { EDGE_AUTHORIZER_URL: "" }],
  ];
  it.each(usageErrors)("%j is a usage error: exit 2 and what is wrong", async (args, message, env) => {
    const { code, stdout, stderr } = await cli(args, { env });
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain(message);
    expect(stderr).toMatch(/Run "edge-jwt-authorizer .*--help" for usage\.\n$/);
  });
});

describe("failures", () => {
  it("exits 1 and prints the problem's code and detail when the authorizer refuses", async () => {
    const wrong = { EDGE_AUTHORIZER_ADMIN_TOKEN: "not-the-admin-token" };
    const human = await cli(["revoke", "--sub", "cli-nobody"], { env: wrong });
    expect(human).toMatchObject({ code: 1, stdout: "" });
    expect(human.stderr).toBe(
      "edge-jwt-authorizer: refused: admin_unauthorized (401): This route requires an admin token.\n",
    );
    const json = await cli(["feed", "--json"], { env: wrong });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { status: 401, code: "admin_unauthorized" } });
    const follow = await cli(["follow"], { env: wrong });
    expect(follow.code).toBe(1);
    expect(follow.stderr).toContain("admin_unauthorized");
    const tooMany = await cli(["feed", "--limit", "5000"]);
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toMatch(/refused: \w+ \(400\): /);
  });

  it("exits 3 when the authorizer is unreachable, after the client's retries", async () => {
    const { code, stdout, stderr } = await cli(["health", "--url", `http://127.0.0.1:${await freePort()}`]);
    expect(code).toBe(3);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^edge-jwt-authorizer: unreachable: network_error: .* \(4 attempts\)\n$/);
  });

  it("exits 3 on a 5xx answer, with its problem's code", async () => {
    const problem = { type: "about:blank", title: "t", status: 500, detail: "broken", code: "config_invalid" };
    const server = createServer((_req, res) => res.writeHead(500).end(JSON.stringify(problem)));
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    try {
      const { code, stderr } = await cli(["health", "--url", `http://127.0.0.1:${port}`]);
      expect(code).toBe(3);
      expect(stderr).toBe("edge-jwt-authorizer: failed: config_invalid (500): broken\n");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

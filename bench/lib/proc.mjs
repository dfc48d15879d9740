// Processes for the benchmark: free ports, child processes started in their own process group and
// stopped by that group only, bounded waits, and the /proc readings (descendants, CPU time, RSS).
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

/** @returns {Promise<number>} a port that was free on 127.0.0.1 a moment ago */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @typedef {{ child: import("node:child_process").ChildProcess, output: () => string }} Proc
 */

/**
 * Starts `node <args>` detached (its own process group, so stopping it reaches its children and
 * nothing else), collecting its output.
 * @param {string[]} args
 * @param {Record<string, string>} [env]
 * @param {string} [cwd]
 * @returns {Proc}
 */
export function startNode(args, env = {}, cwd = process.cwd()) {
  let output = "";
  const child = spawn(process.execPath, args, {
    cwd,
    detached: true,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d) => (output = (output + d).slice(-20_000)));
  child.stderr?.on("data", (d) => (output = (output + d).slice(-20_000)));
  return { child, output: () => output };
}

/**
 * Stops a process group we started: SIGTERM, then SIGKILL after `graceMs`.
 * @param {Proc | undefined} proc
 * @param {number} [graceMs]
 */
export async function stopGroup(proc, graceMs = 5_000) {
  const pid = proc?.child.pid;
  if (!proc || pid === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.child.once("exit", resolve));
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }, graceMs);
  await Promise.race([exited, sleep(graceMs + 2_000)]);
  clearTimeout(timer);
}

/**
 * Polls `url` until it answers (any status) or `timeoutMs` passes.
 * @param {string} url
 * @param {Proc | null} proc when given, fail early if it exits
 * @param {number} timeoutMs
 */
export async function waitForHttp(url, proc, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
    if (proc && proc.child.exitCode !== null) throw new Error(`process exited early:\n${proc.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return;
    } catch {
      await sleep(200);
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms${proc ? `:\n${proc.output()}` : ""}`);
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (normally 100). */
export const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/**
 * The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses).
 * @param {number} pid
 * @returns {string[] | null} fields from field 3 (state) on, or null when the process is gone
 */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/**
 * @param {number} pid
 * @returns {string} the process's command name ("" when gone)
 */
export function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/**
 * Every live descendant of `pid` (children of each of its threads, recursively), bounded.
 * @param {number} pid
 * @returns {number[]}
 */
export function descendants(pid) {
  /** @type {number[]} */
  const found = [];
  const queue = [pid];
  while (queue.length > 0 && found.length < 10_000) {
    const p = /** @type {number} */ (queue.shift());
    let tids = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      let children = "";
      try {
        children = readFileSync(`/proc/${p}/task/${tid}/children`, "utf8");
      } catch {
        continue;
      }
      for (const c of children.split(" ").filter(Boolean).map(Number)) {
        if (!found.includes(c)) {
          found.push(c);
          queue.push(c);
        }
      }
    }
  }
  return found;
}

/** @param {number} pid @returns {number[]} the workerd processes descending from pid */
export const workerdDescendants = (pid) => descendants(pid).filter((p) => commOf(p) === "workerd");

/**
 * utime + stime of the given processes (all their threads, live and exited), in clock ticks.
 * @param {number[]} pids
 */
export function cpuTicks(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]); // fields 14 and 15 of stat(5)
  }
  return ticks;
}

/**
 * Pins processes (every thread) to CPUs with `taskset -a -p -c <cpus> <pid>`; false when it cannot
 * (no taskset, a process gone). Only processes this run started are ever passed here.
 * @param {number[]} pids
 * @param {string} cpus a CPU list, e.g. "1" or "0-2"
 */
export function pinTo(pids, cpus) {
  try {
    for (const pid of pids)
      execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore", timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Time the given processes' live threads have run on a CPU, in nanoseconds (the first field of
 * /proc/<pid>/task/<tid>/schedstat): far finer than clock ticks, for measurements of milliseconds.
 * Threads that exit between two readings drop out of the second, so use it on a steady process.
 * @param {number[]} pids
 */
export function runNs(pids) {
  let ns = 0;
  for (const pid of pids) {
    let tids;
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of tids) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // the thread exited meanwhile
      }
    }
  }
  return ns;
}

/** @param {number[]} pids @returns {number} resident set size in bytes, summed */
export function rssBytes(pids) {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) kb += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kb * 1024;
}

/**
 * What a run must undo (processes, temp dirs), newest first: on `run()`, and on SIGINT or SIGTERM
 * (then the process exits 130). Each step is tried even if an earlier one failed.
 * @param {(line: string) => void} log
 */
export function cleanupStack(log) {
  /** @type {(() => Promise<unknown> | unknown)[]} */
  const steps = [];
  const run = async () => {
    while (steps.length > 0) {
      try {
        await /** @type {() => unknown} */ (steps.pop())();
      } catch {
        // keep cleaning
      }
    }
  };
  for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM"])) {
    process.once(signal, () => {
      log(`${signal}: stopping everything this run started`);
      void run().finally(() => process.exit(130));
    });
  }
  return { push: (/** @type {() => Promise<unknown> | unknown} */ step) => void steps.push(step), run };
}

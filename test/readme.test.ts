// The README's configuration reference is checked against the code: every var the Worker reads is
// listed with its type, meaning, default and example, and every listed var is one the Worker reads.
import { describe, expect, it } from "vitest";
import readme from "../README.md?raw";
import wranglerToml from "../wrangler.toml?raw";
import { CONFIG_VARS } from "../src/config";

/** The rows of the first markdown table after `heading`, as cells. */
function tableAfter(markdown: string, heading: string): string[][] {
  const start = markdown.indexOf(heading);
  expect(start, `README has "${heading}"`).toBeGreaterThanOrEqual(0);
  const lines = markdown.slice(start).split("\n");
  const first = lines.findIndex((l) => l.startsWith("|"));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(
      line
        .slice(1, -1)
        .split(" | ")
        .map((c) => c.trim()),
    );
  }
  return rows;
}

// Every source file, so that a var read directly from `env` (not through the config parser) counts.
const sources = import.meta.glob("../src/**/*.ts", { query: "?raw", import: "default", eager: true });
const BINDINGS = new Set(["REVOCATIONS", "REVOCATION_LEDGER", "DPOP_REPLAY", "SIGNAL_RECEIVER", "METRICS"]);
/** Secrets: documented beside the table, never in it (their values are not configuration to show). */
const SECRETS = new Set(["ADMIN_TOKENS", "DPOP_NONCE_SECRET"]);

describe("README configuration reference", () => {
  const rows = tableAfter(readme, "## Configuration");
  const documented = rows.map((r) => r[0]!.replace(/`/g, ""));

  it("lists exactly the vars the code reads, each with type, meaning, default and example", () => {
    const read = new Set<string>(CONFIG_VARS.filter((v) => !SECRETS.has(v)));
    for (const text of Object.values(sources)) {
      for (const [, name] of text.matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g))
        if (!BINDINGS.has(name!) && !SECRETS.has(name!)) read.add(name!);
    }
    expect(new Set(documented)).toEqual(read);
    for (const row of rows) {
      expect(row, `${row[0]} has five cells`).toHaveLength(5);
      for (const cell of row) expect(cell, `${row[0]}: no empty cell`).not.toBe("");
    }
  });

  it("documents the ADMIN_TOKENS secret, and every var of wrangler.toml is one the code reads", () => {
    expect(CONFIG_VARS).toContain("ADMIN_TOKENS");
    expect(readme).toMatch(/Secret: `ADMIN_TOKENS`/);
    expect(readme).toMatch(/Secret: `DPOP_NONCE_SECRET`/);
    const inToml = [...wranglerToml.matchAll(/^([A-Z][A-Z0-9_]+)\s*=/gm)].map((m) => m[1]!);
    expect(inToml.length).toBeGreaterThan(0);
    for (const name of inToml) expect(CONFIG_VARS as string[], `wrangler.toml's ${name}`).toContain(name);
  });
});

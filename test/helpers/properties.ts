// Shared pieces of the property-based tests (test/properties*.test.ts): a quiet console, the run
// counter, generators of hostile inputs, and an origin's readings of a raw path written
// independently of src/path.ts (the oracle must not be the code under test).
import fc from "fast-check";
import { afterAll, beforeAll } from "vitest";

/** Drops the Worker's one-line-per-request decision log (thousands of lines); keeps everything else. */
export function quietDecisionLog(): void {
  const original = console.log;
  beforeAll(() => {
    console.log = (...args: unknown[]) => {
      if (typeof args[0] === "string" && args[0].startsWith('{"event":"decision"')) return;
      original(...args);
    };
  });
  afterAll(() => {
    console.log = original;
  });
}

/** Counts the inputs a property really ran (pre-condition skips excluded) and prints the figure. */
export class Runs {
  n = 0;
  constructor(readonly name: string) {}
  tick(): void {
    this.n++;
  }
  report(ms: number): void {
    console.log(`[property] ${this.name}: ${this.n} inputs in ${(ms / 1000).toFixed(1)} s`);
  }
}

/** Runs `body` and prints how many inputs it tried, failing or not. */
export async function counted(name: string, body: (runs: Runs) => Promise<void> | void): Promise<void> {
  const runs = new Runs(name);
  const started = performance.now(); // not Date: some properties freeze it
  try {
    await body(runs);
  } finally {
    runs.report(performance.now() - started);
  }
}

// ─── header values ────────────────────────────────────────────────────────────────────────────────

/** Whether the Fetch Headers API accepts this value at all (no NUL, CR, LF, nothing over U+00FF). */
export function isHeaderValue(value: string): boolean {
  try {
    new Headers([["x", value]]);
    return true;
  } catch {
    return false;
  }
}

const headerChar = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.constantFrom(" ", ",", ".", "=", "-", "_", "~", "+", "/", '"', ";", ":") },
  { weight: 1, arbitrary: fc.constantFrom("\t", "\x01", "\x0b", "\x0c", "\x1f", "\x7f") },
);
/**
 * Strings a header may carry: printable ASCII mostly, some control characters. No bytes over 0x7F:
 * workerd stores those as UTF-8 (not Latin-1) and warns at length for each one.
 */
export const headerText = (maxLength = 80) => fc.string({ unit: headerChar, maxLength });

const b64urlChar = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
export const b64urlText = (minLength = 0, maxLength = 60) => fc.string({ unit: b64urlChar, minLength, maxLength });

// ─── JSON ─────────────────────────────────────────────────────────────────────────────────────────

export const b64url = (bytes: Uint8Array): string => {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};
export const b64urlJson = (value: unknown): string => b64url(new TextEncoder().encode(JSON.stringify(value)));

/** Nested arrays or objects `depth` deep, as text (cheap to build at any depth). */
export function deepJsonText(depth: number, kind: "array" | "object"): string {
  return kind === "array" ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

/** The same, as a value (built iteratively; JSON.stringify would recurse on it, so nothing here does). */
export function deepJsonValue(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/**
 * Every JSON type, with the odd ones weighted up: floats, huge and negative numbers, -0, empty and
 * control-character strings, arrays and nested objects.
 */
export const oddJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom("", " ", "\n", "\u0000", "true", "1", "null", "admin", "read admin", "api"),
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, -1, 0.5, 1e21, -1e21, 1.7976931348623157e308, -1.7976931348623157e308, 2 ** 53 + 2, 5e-324),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  fc.jsonValue({ maxDepth: 4 }),
);

// ─── paths ────────────────────────────────────────────────────────────────────────────────────────

/** Path pieces that origins read differently, and plain ones. */
const PATH_ATOMS = [
  "public",
  "admin",
  "orders",
  "x",
  ".auth",
  "",
  ".",
  "..",
  "%2e",
  "%2E%2e",
  ".%2e",
  "%2e.",
  "..;",
  ";",
  ";x=1",
  "%3B",
  "%3b",
  "%2F",
  "%2f",
  "%5C",
  "%5c",
  "\\",
  "%00",
  "%0a",
  "%09",
  "%7f",
  "%FF",
  "%C0%AE",
  "%25",
  "%252F",
  "%252e%252e",
  "%61dmin",
  "adm%69n",
  "é",
  "%E2%80%AE",
  "%20",
  " ",
  "~",
  "@",
  ":",
  "admin;x",
  "public;",
  "%2e%2e%2f",
  "..%2F",
  "..%5C",
  "..%3B",
  "ADMIN",
  "*",
  // case and suffix readings (Express, ASP.NET; Spring, Rails), and escapes that are not escapes
  "Admin",
  "PUBLIC",
  "Orders",
  "%41dmin",
  "admın",
  ".json",
  "admin.json",
  "public.xml",
  "ADMIN.JSON",
  "%zz",
  "%zz%",
  "%",
  "%e",
  "%EF%BB%BF",
];

const pathAtom = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PATH_ATOMS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const pathSegment = fc.array(pathAtom, { minLength: 1, maxLength: 3 }).map((a) => a.join(""));
const separator = fc.constantFrom("/", "/", "/", "/", "\\", "%2F", "%5c", "//", "/./", "/../", "/;/", ";/", "/..;/");

/** A raw path as a client or a proxy might send it: starts with "/", pieces that read differently. */
export const rawPathArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .array(fc.tuple(separator, pathSegment), { minLength: 1, maxLength: 6 })
      .map((parts) => "/" + parts.map(([s, p], i) => (i === 0 ? p : s + p)).join("")),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 30 }).map((s) => "/" + s) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "/",
      "//",
      "/admin",
      "/public",
      "/public/",
      "/public/../admin",
      "/public/..;/admin",
      "/public/..%3B/admin",
      "/admin%3Bx",
    ),
  },
  // long hostile paths, around the 2 KiB cap on paths with escapes and the 8 KiB one on plain paths
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom("/orders/", "/public/", "/admin/", "/"),
        fc.constantFrom("%zz%", "%2e%2e%2f", "a;%3b\\/", "%2F", "Ab.", "x"),
        fc.integer({ min: 400, max: 2200 }),
      )
      .map(([head, unit, n]) =>
        (head + unit.repeat(Math.ceil(n / unit.length))).slice(0, unit === "x" || unit === "Ab." ? n * 4 : n),
      ),
  },
);

/** Lenient percent-decoding (valid escapes to bytes, bytes as UTF-8, U+FFFD for invalid UTF-8). */
export function percentDecodeLenient(s: string): string {
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    // malformed escapes or invalid UTF-8: byte by byte below
  }
  const bytes: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < s.length;) {
    const hex = s.slice(i + 1, i + 3);
    if (s[i] === "%" && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      const ch = String.fromCodePoint(s.codePointAt(i)!);
      bytes.push(...enc.encode(ch));
      i += ch.length;
    }
  }
  return new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(new Uint8Array(bytes)); // a BOM kept, as decodeURIComponent keeps it
}

export interface OriginReading {
  /** %2F and %5C become separators. */
  decodeSlashes: boolean;
  /** "\" is a separator. */
  backslash: boolean;
  /** `;params` dropped from each segment: never, before percent-decoding, or after it. */
  strip: "no" | "raw" | "decoded";
  /** Empty segments ("//") merged. */
  merge: boolean;
  /** "." and ".." resolved (after decoding, so %2e%2e counts). */
  dots: boolean;
}

function readingsWith(strips: OriginReading["strip"][]): OriginReading[] {
  const out: OriginReading[] = [];
  for (const decodeSlashes of [false, true])
    for (const backslash of [false, true])
      for (const strip of strips)
        for (const merge of [false, true])
          for (const dots of [false, true]) out.push({ decodeSlashes, backslash, strip, merge, dots });
  return out;
}

/** The readings the README promises to consider (";params" kept, dropped raw, or dropped after decoding). */
export const CONTRACT_READINGS = readingsWith(["no", "raw", "decoded"]);
/** An origin behind a decoding proxy (nginx `proxy_pass` with a URI, then a servlet container). */
export const DECODED_PARAM_READINGS = readingsWith(["decoded"]);

/** The segments an origin reading `raw` this way serves. */
export function originSegments(raw: string, r: OriginReading): string[] {
  let s = raw;
  if (r.decodeSlashes) s = s.replace(/%2f/gi, "/").replace(/%5c/gi, "\\");
  if (r.backslash) s = s.replace(/\\/g, "/");
  let parts = s.slice(1).split("/");
  if (r.strip === "raw") parts = parts.map((p) => p.split(";")[0]!);
  parts = parts.map(percentDecodeLenient);
  if (r.strip === "decoded") parts = parts.map((p) => p.split(";")[0]!);
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" && r.merge) continue;
    if (r.dots && p === ".") continue;
    if (r.dots && p === "..") {
      // Above the root: an origin under a base path keeps it, so the authorizer refuses (CLIMBS).
      if (out.length === 0) return CLIMBS;
      out.pop();
      continue;
    }
    out.push(p);
  }
  if (out.length > 0 && out[out.length - 1] === "") out.pop();
  return out;
}

/** What originSegments answers for a ".." above the root. */
export const CLIMBS: string[] = Object.freeze(["..", "(above the root)"]) as string[];

/** What the test policy (/public/* public, /admin/* admin scope, the rest a token) makes of segments. */
export type Area = "public" | "admin" | "orders" | "reserved" | "other";
export const areaOf = (segments: string[]): Area =>
  segments[0] === "public"
    ? "public"
    : segments[0] === "admin"
      ? "admin"
      : segments[0] === "orders"
        ? "orders"
        : segments[0] === ".auth"
          ? "reserved"
          : "other";

/**
 * The area under an origin that routes case-insensitively (Express, ASP.NET) and/or ignores a ".ext"
 * on the last segment (Spring's suffix patterns, Rails): the policy's patterns are one literal each.
 */
function areaAs(segments: string[], fold: boolean, suffix: boolean): Area {
  const first = segments[0];
  if (first === undefined) return "other";
  const name = fold ? first.toUpperCase().toLowerCase() : first;
  if (name === ".auth") return "reserved";
  for (const area of ["public", "admin", "orders"] as const) {
    if (name === area || (suffix && segments.length === 1 && name.startsWith(`${area}.`))) return area;
  }
  return "other";
}

/**
 * The areas a path falls in under these readings (each also case-folded and suffix-stripped, the
 * default POLICY.readings), whether any reading holds a control character, and whether any climbs
 * above the root.
 */
export function readPath(
  raw: string,
  readings: OriginReading[],
): { areas: Set<Area>; control: boolean; climbs: boolean } {
  const areas = new Set<Area>();
  let control = false;
  let climbs = false;
  for (const r of readings) {
    const segments = originSegments(raw, r);
    if (segments === CLIMBS) {
      climbs = true;
      continue;
    }
    for (const fold of [false, true]) for (const suffix of [false, true]) areas.add(areaAs(segments, fold, suffix));
    if (!control && segments.some((s) => /[\x00-\x1f\x7f\uFEFF]/.test(s))) control = true;
  }
  return { areas, control, climbs };
}

/**
 * Within the path limits: 8 KiB and 256 segments, and for a path that can be read more than one way
 * 2 KiB and 64 separators ("/", "\\", %2F, %5C).
 */
export function withinPathLimits(raw: string): boolean {
  if (/[%\\;]|\/\/|\/\.\.?(?:\/|$)/.test(raw))
    return raw.length <= 2048 && (raw.match(/[/\\]|%2f|%5c/gi)?.length ?? 0) <= 64;
  return raw.length <= 8192 && raw.replace(/\/$/, "").split("/").length - 1 <= 256;
}

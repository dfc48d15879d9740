// Which rule a request path falls under, without being fooled by how the origin might read it.
// The origin may or may not decode %2F, treat "\" as "/", resolve dot segments, merge "//" or drop
// ";params" from segments (Tomcat and other servlet containers read "/a/..;/b" as "/b"; behind a
// proxy that percent-decodes first, "/a/..%3B/b" too). We
// compute the rule under every such reading; if they disagree the request is refused (400) rather
// than guessed, and otherwise the raw path is forwarded untouched. Most paths have nothing to
// read differently and take a fast path with one reading.
import { AuthError } from "./errors";
import { MAX_PATH_BYTES, MAX_PATH_SEGMENTS, MAX_READ_PATH_BYTES, MAX_READ_PATH_SEGMENTS } from "./constants";

export type PathPattern =
  | { ok: true; segments: string[]; rest: boolean; /** The segments case-folded (see foldCase). */ folded: string[] }
  | { ok: false; error: string };

/**
 * How an origin may match a path besides byte for byte: case-insensitively (Express and ASP.NET by
 * default) and with a ".ext" suffix on the last segment ignored (Spring's suffix patterns, Rails'
 * formats: /admin.json is /admin). POLICY.readings turns either off for an origin known not to.
 */
export interface MatchReadings {
  caseInsensitive: boolean;
  suffixes: boolean;
}

/**
 * A case-insensitive origin's view of a segment. Upper then lower, so that letters whose lower case
 * is not their fold meet too (the dotless i, the Kelvin sign): an extra match only ever refuses.
 */
export function foldCase(segment: string): string {
  return /^[\x00-\x7f]*$/.test(segment) ? segment.toLowerCase() : segment.toUpperCase().toLowerCase();
}

/** `/a/b` exact; a `*` segment matches one segment; a final `/*` matches the rest, none included. */
export function compilePattern(path: string): PathPattern {
  if (!path.startsWith("/")) return { ok: false, error: 'must start with "/"' };
  if (/[\s?#%\\]/.test(path)) return { ok: false, error: "must not contain spaces, ?, #, % or \\" };
  const segments = path === "/" ? [] : path.slice(1).split("/");
  if (segments.length > 0 && segments[segments.length - 1] === "") segments.pop();
  let rest = false;
  if (segments.length > 0 && segments[segments.length - 1] === "*") {
    segments.pop();
    rest = true;
  }
  for (const s of segments) {
    if (s === "") return { ok: false, error: "must not contain empty segments (//)" };
    if (s === "." || s === "..") return { ok: false, error: "must not contain dot segments" };
    if (s.includes("*") && s !== "*") return { ok: false, error: "* must be a whole segment" };
  }
  return { ok: true, segments, rest, folded: segments.map(foldCase) };
}

/**
 * Whether the segments fall under the pattern. `folded`: the segments are case-folded, so they are
 * compared with the pattern's folded ones; `suffix`: the last segment may carry a ".ext" too.
 */
export function matchesPattern(
  pattern: PathPattern,
  segments: readonly string[],
  folded = false,
  suffix = false,
): boolean {
  if (!pattern.ok) return false;
  const want = folded ? pattern.folded : pattern.segments;
  if (pattern.rest ? segments.length < want.length : segments.length !== want.length) return false;
  const last = segments.length - 1;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if (w === "*" || w === segments[i]) continue;
    if (suffix && i === last && segments[i]!.startsWith(w + ".")) continue;
    return false;
  }
  return true;
}

/** The path exactly as the client sent it (before `?`), without the URL parser's normalisation. */
export function rawPathOf(url: string): string {
  const afterScheme = url.indexOf("://");
  // The authority ends at the first "/", "?" or "#" (RFC 3986 3.2): a "/" inside the query or the
  // fragment of "https://host?/public" is not the path, which is empty, i.e. "/".
  const authority = afterScheme < 0 ? 0 : afterScheme + 3;
  const authorityEnd = url.slice(authority).search(/[/?#]/);
  if (authorityEnd < 0 || url[authority + authorityEnd] !== "/") return "/";
  const start = authority + authorityEnd;
  let end = url.length;
  const q = url.indexOf("?", start);
  if (q >= 0) end = q;
  const h = url.indexOf("#", start);
  if (h >= 0 && h < end) end = h;
  return url.slice(start, end);
}

// ignoreBOM: a leading U+FEFF is part of the segment, as an origin reads it, not a mark to drop.
/** The query exactly as the client sent it, "?" included ("" without one), without the fragment. */
export function rawQueryOf(url: string): string {
  const hash = url.indexOf("#");
  const end = hash < 0 ? url.length : hash;
  const q = url.indexOf("?");
  return q < 0 || q > end ? "" : url.slice(q, end);
}

const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const encoder = new TextEncoder();

/** A hex digit's value, or -1. */
function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const lower = b | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/**
 * Percent-decodes one segment; malformed escapes stay literal, invalid UTF-8 becomes U+FFFD. One
 * pass over the segment's bytes whatever it holds: a segment of "%zz%" repeated once took a slice,
 * a regex and an encoder call per character (an 8 KiB path cost 224 ms).
 */
function percentDecode(segment: string): string {
  if (!segment.includes("%")) return segment;
  const bytes = encoder.encode(segment);
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const high = b === 0x25 && i + 2 < bytes.length ? hexValue(bytes[i + 1]!) : -1;
    const low = high < 0 ? -1 : hexValue(bytes[i + 2]!);
    if (low < 0) {
      out[n++] = b;
    } else {
      out[n++] = (high << 4) | low;
      i += 2;
    }
  }
  return utf8.decode(out.subarray(0, n));
}

/** Which of the readings' choices can change anything for this path; the others are read one way only. */
interface Relevant {
  slashes: boolean;
  backslashes: boolean;
  dots: boolean;
  empty: boolean;
  params: boolean;
}

function relevantTo(raw: string): Relevant {
  const encodedSeparator = /%2f|%5c/i.test(raw);
  return {
    slashes: encodedSeparator,
    backslashes: raw.includes("\\") || encodedSeparator,
    dots: /\.|%2e/i.test(raw),
    empty: /\/\/|\/;|\/$|\\|%2f|%5c|%3b/i.test(raw),
    params: /;|%3b/i.test(raw),
  };
}

const both = (on: boolean) => (on ? [true, false] : [false]);
const withoutParams = (segment: string) => {
  const semicolon = segment.indexOf(";");
  return semicolon < 0 ? segment : segment.slice(0, semicolon);
};

/**
 * The segments after dot segments and empty ones are resolved as one reading says. Throws
 * path_invalid for a ".." that climbs above the root.
 */
function resolve(parts: readonly string[], resolveDots: boolean, mergeSlashes: boolean): string[] {
  const out: string[] = [];
  for (const part of parts) {
    if (part === "" && mergeSlashes) continue;
    if (resolveDots && part === ".") continue;
    if (resolveDots && part === "..") {
      // Dropped at the root by a browser, but an origin under a base path (ORIGIN_URL=.../api) may
      // resolve it against that path instead and leave it: /..%2Finternal reaching /internal.
      if (out.length === 0)
        throw new AuthError("path_invalid", 'The request path climbs above the root with a ".." segment.');
      out.pop();
      continue;
    }
    out.push(part);
  }
  // A trailing slash never changes the rule, under any reading.
  if (out.length > 0 && out[out.length - 1] === "") out.pop();
  return out;
}

/**
 * Every segment list the readings give, each computed from the stage before it, never from the raw
 * path again: the separators (%2F and %5C decoded or not, "\\" a separator or not, at most 4
 * strings, split once each), then ";params" (dropped before decoding, after it, or kept: 3 lists,
 * each distinct segment decoded once), then dot and empty segments (4 resolutions). At most 48
 * lists, each a pass over at most MAX_READ_PATH_SEGMENTS segments.
 */
function* segmentLists(raw: string): Generator<string[]> {
  const r = relevantTo(raw);
  const decoded = new Map<string, string>();
  const decode = (p: string) => {
    let d = decoded.get(p);
    if (d === undefined) decoded.set(p, (d = percentDecode(p)));
    return d;
  };
  const strings = new Set<string>();
  for (const decodeSlashes of both(r.slashes)) {
    for (const backslashIsSlash of both(r.backslashes)) {
      let s = raw;
      if (decodeSlashes) s = s.replace(/%2f/gi, "/").replace(/%5c/gi, "\\");
      if (backslashIsSlash) s = s.replace(/\\/g, "/");
      if (strings.has(s)) continue;
      strings.add(s);
      const parts = s.slice(1).split("/");
      const kept = parts.map(decode);
      const lists = r.params ? [kept, parts.map(withoutParams).map(decode), kept.map(withoutParams)] : [kept];
      for (const list of lists)
        for (const dots of both(r.dots)) for (const merge of both(r.empty)) yield resolve(list, dots, merge);
    }
  }
}

/** Paths with no escapes, backslashes, ";", "//" or dot segments read the same way everywhere. */
const NEEDS_READINGS = /[%\\;]|\/\/|\/\.\.?(?:\/|$)/;
/** Every separator any reading may split at. */
const SEPARATORS = /[/\\]|%2f|%5c/gi;

/** Whether `raw` holds more than `limit` matches of the (global) pattern; stops at the one past it. */
function moreThan(raw: string, pattern: RegExp, limit: number): boolean {
  pattern.lastIndex = 0;
  for (let n = 0; pattern.exec(raw) !== null;) {
    if (++n > limit) return true;
  }
  return false;
}
const SLASHES = /\//g;

/**
 * The segments to match rules against, or every distinct reading when the path could be read in
 * more than one way. Throws path_invalid for control characters or a path past the limits, which
 * keep the work linear and small: each reading is a pass over the path's segments.
 */
export function readingsOf(rawPath: string): string[][] {
  if (rawPath.length > MAX_PATH_BYTES) throw new AuthError("path_invalid", "The request path is too long.");
  if (!rawPath.startsWith("/")) throw new AuthError("path_invalid", "The request path must start with /.");
  if (!NEEDS_READINGS.test(rawPath)) {
    // Counted before splitting: a path of 4 000 one-letter segments is refused without making them.
    if (moreThan(rawPath, SLASHES, MAX_PATH_SEGMENTS + 1)) throw tooManySegments(MAX_PATH_SEGMENTS);
    const segments = rawPath.slice(1).split("/");
    if (segments[segments.length - 1] === "") segments.pop();
    if (segments.length > MAX_PATH_SEGMENTS) throw tooManySegments(MAX_PATH_SEGMENTS);
    return [segments];
  }
  if (rawPath.length > MAX_READ_PATH_BYTES) {
    throw new AuthError(
      "path_invalid",
      `A request path with escapes, backslashes, ";" or dot segments may be at most ${MAX_READ_PATH_BYTES} bytes.`,
    );
  }
  if (moreThan(rawPath, SEPARATORS, MAX_READ_PATH_SEGMENTS)) throw tooManySegments(MAX_READ_PATH_SEGMENTS);
  // Readings are told apart by the ids of their segments, not by joining them: the segments are the
  // same strings in many readings (decoded once each), so each is hashed and checked once.
  const ids = new Map<string, number>();
  const idOf = (segment: string) => {
    let id = ids.get(segment);
    if (id === undefined) {
      // U+FEFF too: a decoder that drops a leading byte order mark (WHATWG's TextDecoder does) reads
      // "%EF%BB%BFadmin" as "admin", one that keeps it does not.
      if (/[\x00-\x1f\x7f\uFEFF]/.test(segment))
        throw new AuthError("path_invalid", "The request path holds control characters or a byte order mark.");
      ids.set(segment, (id = ids.size));
    }
    return id;
  };
  const seen = new Set<string>();
  const readings: string[][] = [];
  for (const segments of segmentLists(rawPath)) {
    const key = segments.map(idOf).join(",");
    if (seen.has(key)) continue;
    seen.add(key);
    readings.push(segments);
  }
  return readings;
}

function tooManySegments(limit: number): AuthError {
  return new AuthError(
    "path_invalid",
    `The request path has more than ${limit} segments${limit === MAX_READ_PATH_SEGMENTS ? ' (with escapes, backslashes, ";" or dot segments)' : ""}.`,
  );
}

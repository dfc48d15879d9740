// Which rule a request path falls under, without being fooled by how the origin might read it.
// The origin may or may not decode %2F, treat "\" as "/", resolve dot segments, merge "//" or drop
// ";params" from segments (Tomcat and other servlet containers read "/a/..;/b" as "/b"; behind a
// proxy that percent-decodes first, "/a/..%3B/b" too). We
// compute the rule under every such reading; if they disagree the request is refused (400) rather
// than guessed, and otherwise the raw path is forwarded untouched. Most paths have nothing to
// read differently and take a fast path with one reading.
import { AuthError } from "./errors";
import { MAX_PATH_BYTES } from "./constants";

export type PathPattern =
  | { ok: true; segments: string[]; rest: boolean }
  | { ok: false; error: string };

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
  return { ok: true, segments, rest };
}

export function matchesPattern(pattern: PathPattern, segments: readonly string[]): boolean {
  if (!pattern.ok) return false;
  const want = pattern.segments;
  if (pattern.rest ? segments.length < want.length : segments.length !== want.length) return false;
  for (let i = 0; i < want.length; i++) {
    if (want[i] !== "*" && want[i] !== segments[i]) return false;
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

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** Percent-decodes one segment; malformed escapes stay literal, invalid UTF-8 becomes U+FFFD. */
function percentDecode(segment: string): string {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    const bytes: number[] = [];
    for (let i = 0; i < segment.length; i++) {
      const hex = segment.slice(i + 1, i + 3);
      if (segment[i] === "%" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        bytes.push(...encoder.encode(segment[i]));
      }
    }
    return utf8.decode(new Uint8Array(bytes));
  }
}

interface Reading {
  decodeSlashes: boolean;
  backslashIsSlash: boolean;
  resolveDots: boolean;
  mergeSlashes: boolean;
  /** Drop ";params" before %-decoding (a servlet container), after it (a decoding proxy in front of one), or never. */
  params: "keep" | "strip" | "stripDecoded";
}

const READINGS: Reading[] = [];
for (const decodeSlashes of [true, false])
  for (const backslashIsSlash of [true, false])
    for (const resolveDots of [true, false])
      for (const mergeSlashes of [true, false])
        for (const params of ["strip", "stripDecoded", "keep"] as const) READINGS.push({ decodeSlashes, backslashIsSlash, resolveDots, mergeSlashes, params });

/** Segments of the path under one reading; the first reading is the most normalising one. */
function read(raw: string, r: Reading): string[] {
  let s = raw;
  if (r.decodeSlashes) s = s.replace(/%2f/gi, "/").replace(/%5c/gi, "\\");
  if (r.backslashIsSlash) s = s.replace(/\\/g, "/");
  let parts = s.slice(1).split("/");
  if (r.params === "strip") parts = parts.map((p) => p.split(";", 1)[0]!);
  parts = parts.map(percentDecode);
  if (r.params === "stripDecoded") parts = parts.map((p) => p.split(";", 1)[0]!);
  const out: string[] = [];
  for (const part of parts) {
    if (part === "" && r.mergeSlashes) continue;
    if (r.resolveDots && part === ".") continue;
    if (r.resolveDots && part === "..") {
      out.pop();
      continue;
    }
    out.push(part);
  }
  // A trailing slash never changes the rule, under any reading.
  if (out.length > 0 && out[out.length - 1] === "") out.pop();
  return out;
}

/** Paths with no escapes, backslashes, ";", "//" or dot segments read the same way everywhere. */
const NEEDS_READINGS = /[%\\;]|\/\/|\/\.\.?(?:\/|$)/;

/**
 * The segments to match rules against, or every distinct reading when the path could be read in
 * more than one way. Throws path_invalid for control characters or an oversized path.
 */
export function readingsOf(rawPath: string): string[][] {
  if (rawPath.length > MAX_PATH_BYTES) throw new AuthError("path_invalid", "The request path is too long.");
  if (!rawPath.startsWith("/")) throw new AuthError("path_invalid", "The request path must start with /.");
  if (!NEEDS_READINGS.test(rawPath)) {
    const segments = rawPath.slice(1).split("/");
    if (segments[segments.length - 1] === "") segments.pop();
    return [segments];
  }
  const seen = new Set<string>();
  const readings: string[][] = [];
  for (const r of READINGS) {
    const segments = read(rawPath, r);
    const key = segments.join("\u0000/");
    if (seen.has(key)) continue;
    if (segments.some((s) => /[\x00-\x1f\x7f]/.test(s))) {
      throw new AuthError("path_invalid", "The request path holds control characters.");
    }
    seen.add(key);
    readings.push(segments);
  }
  return readings;
}

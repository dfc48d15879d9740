// Route rules -> decision. Pure functions of the rules, the request's method and path readings,
// and the token's claims; the caller does the I/O.
import type { JWTPayload } from "jose";
import type { Require, Rule } from "./config";
import { AuthError } from "./errors";
import { compilePattern, foldCase, matchesPattern, readingsOf, type MatchReadings } from "./path";

/** What applies when no rule matches: a valid token, checked against the read model. */
export const DEFAULT_RULE: Rule = {
  index: -1,
  path: "/*",
  pattern: compilePattern("/*"),
  auth: "required",
  revocation: "eventual",
  client: "none",
  sender: "any",
  proofReplay: "isolate",
};

/** Marks the authorizer's own routes (`/.auth/*`), which are never forwarded. */
export const RESERVED = "reserved" as const;

/** Both readings on: what a new deployment gets unless POLICY.readings says its origin does neither. */
export const ALL_READINGS: MatchReadings = { caseInsensitive: true, suffixes: true };

function ruleFor(
  rules: readonly Rule[],
  method: string,
  segments: readonly string[],
  folded = false,
  suffix = false,
): Rule | typeof RESERVED {
  if (segments[0] === ".auth") return RESERVED;
  for (const rule of rules) {
    if (rule.methodSet && !rule.methodSet.has(method)) continue;
    if (matchesPattern(rule.pattern, segments, folded, suffix)) return rule;
  }
  return DEFAULT_RULE;
}

function ambiguous(): AuthError {
  return new AuthError(
    "path_ambiguous",
    'The request path falls under different rules depending on how the origin reads it (encoded slashes, backslashes, dot or empty segments, ";" parameters, letter case, a ".ext" suffix).',
  );
}

/**
 * The first rule that matches, under every way the origin might read the path. When the readings
 * fall under different rules the request is refused: guessing is how a protected path goes public.
 * Case and suffix readings are tried only on paths they can change (a letter with a case, a dot in
 * the last segment), so a plain lower-case path costs one pass over the rules.
 */
export function selectRule(
  rules: readonly Rule[],
  method: string,
  rawPath: string,
  match: MatchReadings = ALL_READINGS,
): Rule | typeof RESERVED {
  const readings = readingsOf(rawPath);
  const chosen = ruleFor(rules, method, readings[0]!);
  if (readings.length === 1) {
    judge(rules, method, readings[0]!, chosen, match, foldCase);
    return chosen;
  }
  // Readings share most of their segments (the same strings): each is folded once, and a reading
  // that agrees with one judged already on all a rule can look at is not judged again.
  const folds = new Map<string, string>();
  const fold = (segment: string) => {
    let f = folds.get(segment);
    if (f === undefined) folds.set(segment, (f = foldCase(segment)));
    return f;
  };
  const ids = new Map<string, number>();
  const idOf = (segment: string) => {
    let id = ids.get(segment);
    if (id === undefined) ids.set(segment, (id = ids.size));
    return id;
  };
  const { depth, exact } = shapeOf(rules);
  const judged = new Set<string>();
  for (const segments of readings) {
    // What matching can see: the first `depth` segments, the count (only up to depth + 1 when every
    // pattern ends in /*), and the last segment (the suffix reading).
    const count = exact ? segments.length : Math.min(segments.length, depth + 1);
    const seen = `${count}:${segments.slice(0, depth).map(idOf).join(",")}:${segments.length === 0 ? "" : idOf(segments[segments.length - 1]!)}`;
    if (judged.has(seen)) continue;
    judged.add(seen);
    judge(rules, method, segments, chosen, match, fold);
  }
  return chosen;
}

/** Throws path_ambiguous unless the segments fall under `chosen` as read, case-folded and without a suffix. */
function judge(
  rules: readonly Rule[],
  method: string,
  segments: string[],
  chosen: Rule | typeof RESERVED,
  match: MatchReadings,
  fold: (s: string) => string,
): void {
  if (ruleFor(rules, method, segments) !== chosen) throw ambiguous();
  const suffix = match.suffixes && segments.length > 0 && segments[segments.length - 1]!.includes(".");
  if (suffix && ruleFor(rules, method, segments, false, true) !== chosen) throw ambiguous();
  if (!match.caseInsensitive) return;
  const folded = segments.map(fold);
  // Unchanged by folding, they meet the same rules, unless a rule is written with capitals: its
  // folded pattern is what a case-insensitive origin matches /admin/users against for /Admin/*.
  if (!shapeOf(rules).capitals && folded.every((f, i) => f === segments[i])) return;
  if (ruleFor(rules, method, folded, true) !== chosen) throw ambiguous();
  if (suffix && ruleFor(rules, method, folded, true, true) !== chosen) throw ambiguous();
}

// How deep the rules of one list look (the most segments a pattern names, at least the first, for
// /.auth), whether any pattern is exact (so the count matters beyond that), and whether any is
// written with letters that fold: one entry per list.
interface Shape {
  depth: number;
  exact: boolean;
  capitals: boolean;
}
const shapes = new WeakMap<readonly Rule[], Shape>();

function shapeOf(rules: readonly Rule[]): Shape {
  let shape = shapes.get(rules);
  if (!shape) {
    shape = { depth: 1, exact: false, capitals: false };
    for (const { pattern } of rules) {
      if (!pattern.ok) continue;
      shape.depth = Math.max(shape.depth, pattern.segments.length);
      if (!pattern.rest) shape.exact = true;
      if (pattern.folded.some((f, i) => f !== pattern.segments[i])) shape.capitals = true;
    }
    shapes.set(rules, shape);
  }
  return shape;
}

// Rule choices per rule list (one per Config), for method + path pairs seen before: selectRule is a
// pure function of the three (and of the Config's readings, fixed with its rules), and the path's readings cost more than a lookup. Deliberate cache,
// bounded: paths up to MEMO_PATH_MAX characters, at most MEMO_ENTRIES per rule list, started over
// when full. Refusals (ambiguous, invalid paths) are not kept: they are computed again each time.
const MEMO_ENTRIES = 1024;
const MEMO_PATH_MAX = 256;
const memos = new WeakMap<readonly Rule[], Map<string, Rule | typeof RESERVED>>();

/** selectRule, answered from memory for a method and path seen before. */
export function selectRuleMemo(
  rules: readonly Rule[],
  method: string,
  rawPath: string,
  match: MatchReadings = ALL_READINGS,
): Rule | typeof RESERVED {
  if (rawPath.length > MEMO_PATH_MAX) return selectRule(rules, method, rawPath, match);
  let memo = memos.get(rules);
  if (!memo) memos.set(rules, (memo = new Map()));
  const key = `${method} ${rawPath}`;
  let rule = memo.get(key);
  if (rule === undefined) {
    rule = selectRule(rules, method, rawPath, match);
    if (memo.size >= MEMO_ENTRIES) memo.clear();
    memo.set(key, rule);
  }
  return rule;
}

function stringsOf(value: unknown, separator: RegExp): string[] {
  if (typeof value === "string") return value.split(separator).filter((s) => s !== "");
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [];
}

/** The token's scopes: `scope` (space-separated, RFC 8693) and `scp` (an array, or a string). */
export function scopesOf(claims: JWTPayload): string[] {
  return [...stringsOf(claims.scope, / +/), ...stringsOf(claims.scp, / +/)];
}

/** The token's roles: `roles` as an array of strings (a single string counts as one role). */
export function rolesOf(claims: JWTPayload): string[] {
  return typeof claims.roles === "string" ? [claims.roles] : stringsOf(claims.roles, /$^/);
}

/** Throws insufficient_scope unless the claims meet the rule's (or another holder's) `require`. */
export function checkRequire(rule: { require?: Require }, claims: JWTPayload): void {
  const require = rule.require;
  if (!require) return;
  if (require.scopes && require.scopes.length > 0) {
    const have = new Set(scopesOf(claims));
    const missing = require.scopes.filter((s) => !have.has(s));
    if (missing.length > 0) {
      throw new AuthError("insufficient_scope", `The token lacks the required scope: ${missing.join(" ")}.`, {
        required: { scopes: require.scopes },
      });
    }
  }
  if (require.roles) {
    const have = new Set(rolesOf(claims));
    if (!require.roles.some((r) => have.has(r))) {
      throw new AuthError(
        "insufficient_scope",
        `The token has none of the required roles: ${require.roles.join(", ")}.`,
        {
          required: { roles: require.roles },
        },
      );
    }
  }
  if (require.claims) {
    for (const [name, expected] of Object.entries(require.claims)) {
      const actual = claims[name];
      const ok = actual === expected || (Array.isArray(actual) && actual.includes(expected));
      if (!ok) {
        throw new AuthError("insufficient_scope", `The token's "${name}" claim does not have the required value.`, {
          required: { claims: [name] },
        });
      }
    }
  }
}

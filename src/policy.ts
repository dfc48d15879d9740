// Route rules -> decision. Pure functions of the rules, the request's method and path readings,
// and the token's claims; the caller does the I/O.
import type { JWTPayload } from "jose";
import type { Rule } from "./config";
import { AuthError } from "./errors";
import { compilePattern, matchesPattern, readingsOf } from "./path";

/** What applies when no rule matches: a valid token, checked against the read model. */
export const DEFAULT_RULE: Rule = {
  index: -1,
  path: "/*",
  pattern: compilePattern("/*"),
  auth: "required",
  revocation: "eventual",
  client: "none",
};

/** Marks the authorizer's own routes (`/.auth/*`), which are never forwarded. */
export const RESERVED = "reserved" as const;

function ruleFor(rules: readonly Rule[], method: string, segments: readonly string[]): Rule | typeof RESERVED {
  if (segments[0] === ".auth") return RESERVED;
  for (const rule of rules) {
    if (rule.methodSet && !rule.methodSet.has(method)) continue;
    if (matchesPattern(rule.pattern, segments)) return rule;
  }
  return DEFAULT_RULE;
}

/**
 * The first rule that matches, under every way the origin might read the path. When the readings
 * fall under different rules the request is refused: guessing is how a protected path goes public.
 */
export function selectRule(rules: readonly Rule[], method: string, rawPath: string): Rule | typeof RESERVED {
  const readings = readingsOf(rawPath);
  const chosen = ruleFor(rules, method, readings[0]!);
  for (let i = 1; i < readings.length; i++) {
    if (ruleFor(rules, method, readings[i]!) !== chosen) {
      throw new AuthError(
        "path_ambiguous",
        "The request path reads differently depending on how encoded slashes, backslashes, dot segments or empty segments are interpreted.",
      );
    }
  }
  return chosen;
}

// Rule choices per rule list (one per Config), for method + path pairs seen before: selectRule is a
// pure function of the three, and the path's readings cost more than a lookup. Deliberate cache,
// bounded: paths up to MEMO_PATH_MAX characters, at most MEMO_ENTRIES per rule list, started over
// when full. Refusals (ambiguous, invalid paths) are not kept: they are computed again each time.
const MEMO_ENTRIES = 1024;
const MEMO_PATH_MAX = 256;
const chosen = new WeakMap<readonly Rule[], Map<string, Rule | typeof RESERVED>>();

/** selectRule, answered from memory for a method and path seen before. */
export function selectRuleMemo(rules: readonly Rule[], method: string, rawPath: string): Rule | typeof RESERVED {
  if (rawPath.length > MEMO_PATH_MAX) return selectRule(rules, method, rawPath);
  let memo = chosen.get(rules);
  if (!memo) chosen.set(rules, (memo = new Map()));
  const key = `${method} ${rawPath}`;
  let rule = memo.get(key);
  if (rule === undefined) {
    rule = selectRule(rules, method, rawPath);
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

/** Throws insufficient_scope unless the claims meet the rule's `require`. */
export function checkRequire(rule: Rule, claims: JWTPayload): void {
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
      throw new AuthError("insufficient_scope", `The token has none of the required roles: ${require.roles.join(", ")}.`, {
        required: { roles: require.roles },
      });
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

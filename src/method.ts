// The method the origin will run. Express's method-override, Rails, Spring, Laravel and Symfony run
// another method than the request line's when a POST says so (a header, or `_method` in the query),
// so a policy that judged only the wire method let `POST` + `X-HTTP-Method-Override: DELETE` run the
// DELETE it reserves for admins. Whether an origin honours an override is not known here, so both
// methods must fall under the same rule: then the decision is the same whichever the origin runs,
// and the request is forwarded unchanged; otherwise it is refused (400), never guessed.
// A `_method` inside a form body is not read (bodies stream unread): see the README's threat model.
import { AuthError } from "./errors";

/** The override headers of the frameworks above (lower case, as Headers gives names). */
const OVERRIDE_HEADERS = ["x-http-method-override", "x-http-method", "x-method-override"] as const;
const OVERRIDE_NAMES: ReadonlySet<string> = new Set(OVERRIDE_HEADERS);
const METHOD = /^[A-Za-z]{1,16}$/;

/** Whether a header name, read with "_" as "-" as CGI-style origins do, is an override header. */
export function isOverrideHeader(nameWithDashes: string): boolean {
  return OVERRIDE_NAMES.has(nameWithDashes);
}

/**
 * `_method` as the frameworks read a parameter's name: decoded (URLSearchParams does), any case, and
 * with PHP's mangling of ".", " " and "[" into "_" (Laravel and Symfony read `.method` as `_method`).
 */
function isMethodParameter(name: string): boolean {
  return name.length === 7 && name.toLowerCase().replace(/^[ .[]/, "_") === "_method";
}

function refused(detail: string): AuthError {
  return new AuthError("method_override", detail);
}

/**
 * The method a request asks its origin to run instead of `method`, null when none (or the same).
 * Throws method_override for an override that is no method, or two that disagree.
 */
export function methodOverrideOf(method: string, headers: Headers, rawQuery: string): string | null {
  let asked: string | null = null;
  const add = (value: string) => {
    const m = value.trim();
    if (!METHOD.test(m)) throw refused("A method override names no HTTP method.");
    const upper = m.toUpperCase();
    if (asked !== null && asked !== upper) throw refused("The request's method overrides disagree.");
    asked = upper;
  };
  for (const name of OVERRIDE_HEADERS) {
    const value = headers.get(name);
    if (value !== null) add(value);
  }
  // Cheap test first: nearly every query has neither "method" nor an escape that could spell it.
  if (rawQuery.length > 1 && /method|%/i.test(rawQuery)) {
    for (const [key, value] of new URLSearchParams(rawQuery)) if (isMethodParameter(key)) add(value);
  }
  return asked === null || asked === method ? null : asked;
}

/** The refusal when the two methods fall under different rules. */
export function overrideRefused(method: string, override: string): AuthError {
  return refused(
    `The request is sent as ${method} but asks the origin to run ${override}, which falls under another rule.`,
  );
}

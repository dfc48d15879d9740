// A GET of a small JSON document from a neighbour that may be slow, huge or broken: bounded in time
// (headers and body together) and in bytes, so that a bad issuer costs an error, never a hung
// request or an isolate out of memory.
import { readAtMost } from "../stream";

export class FetchFailed extends Error {
  override readonly name = "FetchFailed";
}

export interface BoundedJson {
  body: unknown;
  text: string;
  /** `max-age` of the response's Cache-Control, in seconds, when present. */
  maxAgeSeconds: number | undefined;
}

export function maxAgeOf(cacheControl: string | null): number | undefined {
  const m = cacheControl?.match(/(?:^|,)\s*max-age\s*=\s*"?(\d{1,10})"?\s*(?:,|$)/i);
  return m ? Number(m[1]) : undefined;
}

/**
 * `init` adds a method, a body and headers (a bearer token) to the GET of a JSON document; a
 * request with a credential should not follow redirects (`redirect: "manual"`), which would carry it.
 */
export async function fetchBoundedJson(
  url: string,
  timeoutMs: number,
  maxBytes: number,
  init: { method?: string; body?: string; headers?: Record<string, string>; redirect?: "follow" | "manual" } = {},
): Promise<BoundedJson> {
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, {
      signal,
      method: init.method ?? "GET",
      body: init.body,
      redirect: init.redirect ?? "follow",
      headers: { Accept: "application/json", ...init.headers },
    });
  } catch (e) {
    throw new FetchFailed(signal.aborted ? `timed out after ${timeoutMs} ms` : "unreachable");
  }
  try {
    if (!response.ok) throw new FetchFailed(`answered HTTP ${response.status}`);
    const declared = Number(response.headers.get("Content-Length") ?? "0");
    if (declared > maxBytes) throw new FetchFailed(`body over ${maxBytes} bytes`);
    const bytes = await readAtMost(response.body, maxBytes);
    if (bytes === null) throw new FetchFailed(`body over ${maxBytes} bytes`);
    const text = new TextDecoder().decode(bytes);
    let body: unknown = null; // an empty body (a 202 or 204) is no document
    try {
      if (text.trim() !== "") body = JSON.parse(text);
    } catch {
      throw new FetchFailed("body is not JSON");
    }
    return { body, text, maxAgeSeconds: maxAgeOf(response.headers.get("Cache-Control")) };
  } catch (e) {
    response.body?.cancel().catch(() => {});
    if (e instanceof FetchFailed) throw e;
    throw new FetchFailed(signal.aborted ? `timed out after ${timeoutMs} ms` : "body could not be read");
  }
}

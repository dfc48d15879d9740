// Request bodies of the admin and logout routes: bounded in bytes while they stream (a missing or
// lying Content-Length changes nothing), then parsed and validated by a schema.
import type { z } from "zod";
import { AuthError } from "./errors";
import { readAtMost } from "./stream";

export async function readLimitedText(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get("Content-Length") ?? "0");
  if (declared > maxBytes) throw new AuthError("body_too_large", `The request body is over ${maxBytes} bytes.`);
  const all = await readAtMost(request.body, maxBytes);
  if (all === null) throw new AuthError("body_too_large", `The request body is over ${maxBytes} bytes.`);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(all);
  } catch {
    throw new AuthError("body_invalid", "The request body is not UTF-8.");
  }
}

/** A JSON body checked against `schema`; every failure is a 400 that says what is wrong. */
export async function readJson<S extends z.ZodType>(
  request: Request,
  schema: S,
  maxBytes: number,
): Promise<z.output<S>> {
  const text = await readLimitedText(request, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AuthError("body_invalid", "The request body is not JSON.");
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.slice(0, 5).map((i) => ({ path: i.path.join("."), message: i.message }));
    throw new AuthError("body_invalid", "The request body does not have an accepted shape.", { issues });
  }
  return result.data;
}

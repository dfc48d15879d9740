// Request bodies of the admin and logout routes: bounded in bytes while they stream (a missing or
// lying Content-Length changes nothing), then parsed and validated by a schema.
import type { z } from "zod";
import { AuthError } from "./errors";

export async function readLimitedText(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get("Content-Length") ?? "0");
  if (declared > maxBytes) throw new AuthError("body_too_large", `The request body is over ${maxBytes} bytes.`);
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new AuthError("body_too_large", `The request body is over ${maxBytes} bytes.`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(all);
  } catch {
    throw new AuthError("body_invalid", "The request body is not UTF-8.");
  }
}

/** A JSON body checked against `schema`; every failure is a 400 that says what is wrong. */
export async function readJson<S extends z.ZodType>(request: Request, schema: S, maxBytes: number): Promise<z.output<S>> {
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

// A Token Status List (draft-ietf-oauth-status-list, section 4) as bytes: `bits` bits per token,
// the token at index i in bits i*bits .. i*bits+bits-1 counted from the least significant bit of
// each byte. Pure: no fetch, no keys; lists.ts fetches and verifies the token that carries one.
import { base64url } from "jose";
import { readAtMost } from "../stream";

export type Bits = 1 | 2 | 4 | 8;

export interface StatusList {
  bits: Bits;
  bytes: Uint8Array;
}

/** The status values the draft defines (section 7.1); any other is application-specific. */
export const VALID = 0;
export const INVALID = 1;
export const SUSPENDED = 2;

export class ListInvalid extends Error {
  override readonly name = "ListInvalid";
}

/** How many tokens the list holds. */
export const entriesOf = (list: StatusList) => Math.floor((list.bytes.length * 8) / list.bits);

/** The status of the token at `idx`, or null when the list has no such index. */
export function statusAt(list: StatusList, idx: number): number | null {
  if (!Number.isSafeInteger(idx) || idx < 0 || idx >= entriesOf(list)) return null;
  const bit = idx * list.bits;
  return (list.bytes[bit >>> 3]! >>> (bit & 7)) & ((1 << list.bits) - 1);
}

/**
 * The bytes of `lst` (base64url of the ZLIB stream, RFC 1950), inflated by the runtime's
 * DecompressionStream and cut off at `maxBytes`: a list that inflates past it is refused, however
 * small it came (a compression bomb costs the bound, not the isolate).
 */
export async function inflateList(bits: unknown, lst: unknown, maxBytes: number): Promise<StatusList> {
  if (bits !== 1 && bits !== 2 && bits !== 4 && bits !== 8) throw new ListInvalid("bits is not 1, 2, 4 or 8");
  if (typeof lst !== "string" || !/^[A-Za-z0-9_-]*$/.test(lst)) throw new ListInvalid("lst is not base64url");
  let compressed: Uint8Array;
  try {
    compressed = base64url.decode(lst);
  } catch {
    throw new ListInvalid("lst is not base64url");
  }
  let bytes: Uint8Array | null;
  try {
    const inflated = new Blob([compressed]).stream().pipeThrough(new DecompressionStream("deflate"));
    bytes = await readAtMost(inflated as ReadableStream<Uint8Array>, maxBytes);
  } catch {
    throw new ListInvalid("lst is not a ZLIB stream");
  }
  if (bytes === null) throw new ListInvalid(`the list inflates past ${maxBytes} bytes`);
  return { bits, bytes };
}

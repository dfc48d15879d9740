// Every call the Worker makes to the ledger goes through here, with the one deadline: a ledger that
// does not answer within LEDGER_TIMEOUT_MS is revocations_unavailable (503), never a hang.
import { LEDGER_TIMEOUT_MS } from "../constants";
import { AuthError } from "../errors";
import { ledgerOf, type RevocationLedger } from "./ledger";

/** `call` on the ledger's stub, within LEDGER_TIMEOUT_MS. */
export function askLedger<T>(env: Env, call: (ledger: DurableObjectStub<RevocationLedger>) => Promise<T>): Promise<T> {
  return withTimeout(call(ledgerOf(env)), LEDGER_TIMEOUT_MS);
}

/** The ledger's answer, or revocations_unavailable when it cannot be reached in time. */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new AuthError("revocations_unavailable", "The revocation ledger did not answer in time.")),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch (e) {
    if (e instanceof AuthError) throw e;
    throw new AuthError("revocations_unavailable", "The revocation ledger cannot be reached.");
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

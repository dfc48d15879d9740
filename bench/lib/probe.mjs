// Correctness before speed: every authorizing target must refuse a forged, an expired and a
// wrong-audience token (401), accept a good ES256 and RS256 token, and never let a client-sent
// X-Auth-Subject reach the origin. The target with revocations loaded must also deny a token whose
// jti is among them. Runs before any load; the bench stops when a check fails.

export const PROBE_PATH = "/api/probe";

/**
 * @param {{ name: string, url: URL, authorizing: boolean, revocations: boolean }[]} targets
 * @param {Awaited<ReturnType<typeof import("./tokens.mjs").makeProbeTokens>>} tokens
 * @param {{ stats: () => Promise<{ spoofed: number }> }} origin
 * @returns {Promise<{ target: string, check: string, want: number, got: number, ok: boolean }[]>}
 */
export async function probe(targets, tokens, origin) {
  const spoofedBefore = (await origin.stats()).spoofed;
  const results = [];
  for (const t of targets) {
    /** @type {[string, string | null, number, Record<string, string>?][]} */
    const checks = t.authorizing
      ? [
          ["no token", null, 401],
          ["forged signature", tokens.forged, 401],
          ["expired", tokens.expired, 401],
          ["wrong audience", tokens.wrongAudience, 401],
          ["valid ES256 + spoofed X-Auth-Subject", tokens.valid, 200, { "X-Auth-Subject": `spoofed-${t.name}` }],
          ["valid RS256", tokens.validRs256, 200],
        ]
      : [["valid (no auth)", tokens.valid, 200]];
    if (t.revocations) checks.push(["revoked (jti among the seeded revocations)", tokens.revoked, 401]);
    for (const [check, token, want, extra] of checks) {
      /** @type {Record<string, string>} */
      const headers = { ...extra };
      if (token !== null) headers.Authorization = `Bearer ${token}`;
      const res = await fetch(new URL(PROBE_PATH, t.url), { headers, signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      let ok = res.status === want;
      // The origin echoes the X-Auth-Subject it received: it must be the token's, never the client's.
      if (ok && extra && /spoofed-/.test(body)) ok = false;
      results.push({ target: t.name, check, want, got: res.status, ok });
    }
  }
  const spoofed = (await origin.stats()).spoofed - spoofedBefore;
  results.push({
    target: "origin",
    check: "requests that arrived with a spoofed X-Auth-Subject",
    want: 0,
    got: spoofed,
    ok: spoofed === 0,
  });
  return results;
}

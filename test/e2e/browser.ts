// What a browser does in the end-to-end flows against oidc-provider: keep its cookies, follow no
// redirect by itself (the tests read each Location), and submit the provider's logout form.
import { expect } from "vitest";

/** A browser's cookies, reduced to what the provider needs: name → value, every path. */
export class CookieJar {
  private cookies = new Map<string, string>();
  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired =
        attrs.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split("=")[1]!) < Date.now()) ||
        attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

/** One request with the jar's cookies, keeping the ones it sets; redirects are the caller's to follow. */
export async function browse(jar: CookieJar, url: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(url, {
    ...init,
    redirect: "manual",
    signal: AbortSignal.timeout(10_000),
    headers: { ...init.headers, Cookie: jar.header() },
  });
  jar.store(res);
  return res;
}

/**
 * A browser at the provider's authorization endpoint, through its scripted login and consent:
 * /auth → /interaction/<uid> (login) → /auth/<uid> → /interaction/<uid> (consent) → /auth/<uid> →
 * `redirectUri`?code=... It follows each Location itself (at most 10 hops) and stops at the first one
 * under `redirectUri`, which it returns without requesting it.
 */
export async function authorizeAtProvider(jar: CookieJar, authorizationUrl: string, redirectUri: string): Promise<URL> {
  let url = authorizationUrl;
  const hops: string[] = [];
  for (let hop = 0; hop < 10; hop++) {
    const res = await browse(jar, url);
    const location = res.headers.get("location");
    hops.push(`${res.status} ${new URL(url).pathname}`);
    if (!location)
      throw new Error(`no redirect from ${url}: ${res.status} ${await res.text()} (hops: ${hops.join(", ")})`);
    const next = new URL(location, url);
    if (next.href.startsWith(redirectUri)) return next;
    url = next.href;
  }
  throw new Error(`no redirect to ${redirectUri} after ${hops.join(", ")}`);
}

/** RP-initiated logout: the end-session page, then its confirm form (with its xsrf), as a browser would. */
export async function logoutAtProvider(
  endSessionEndpoint: string,
  session: { jar: CookieJar; idToken: string },
): Promise<Response> {
  const endSession = new URL(endSessionEndpoint);
  endSession.searchParams.set("id_token_hint", session.idToken);
  const page = await browse(session.jar, endSession.href);
  const html = await page.text();
  expect(page.status, html).toBe(200);
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  if (!action || !xsrf) throw new Error(`no logout form in ${html}`);
  return browse(session.jar, new URL(action, endSession).href, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ xsrf, logout: "yes" }),
  });
}

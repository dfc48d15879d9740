// The operator console in a real browser: Debian's chromium, headless, driven by playwright-core,
// against `wrangler dev`. The page loads without a CSP violation or a console error, the admin token
// typed in shows health and opens the live stream (its token sent as a subprotocol), a revoke made in
// the form (and one made elsewhere) comes back through the stream and the feed as text (its value is markup, never parsed),
// the token never appears in a URL, and a wrong token shows the refusal. Screenshots are saved under
// test/e2e/screenshots/ (git-ignored) and their paths printed.
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "./harness";

const SCREENSHOTS = resolve("test/e2e/screenshots");
/** Every wait in the browser: the stack is local, so each step takes well under a second. */
const WAIT_MS = 10_000;

/** Debian's chromium (the `chromium` package; .ci/run installs it), or CHROMIUM_PATH. */
function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/lib/chromium/chromium"];
  const found = candidates.find((path) => path !== undefined && path !== "" && existsSync(path));
  if (found === undefined)
    throw new Error("No chromium found: install Debian's chromium package (.ci/run does), or set CHROMIUM_PATH.");
  return found;
}

let stack: Stack;
let browser: Browser;

beforeAll(async () => {
  stack = await startStack({ REVOCATION_MAX_STALENESS_SECONDS: "2" });
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    timeout: 30_000,
    // Chromium's sandbox refuses to run as root (CI containers); elsewhere it stays on.
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

interface Watched {
  page: Page;
  /** Console errors and warnings (a CSP violation is one), page errors and failed requests. */
  problems: string[];
  /** Every URL the page requested, WebSockets included. */
  urls: string[];
}

async function openConsole(): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1100 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const watched: Watched = { page, problems: [], urls: [] };
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") watched.problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => watched.problems.push(`pageerror: ${e.message}`));
  page.on("requestfailed", (r) => watched.problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("request", (r) => watched.urls.push(r.url()));
  page.on("websocket", (ws) => watched.urls.push(ws.url()));
  const res = await page.goto(`${stack.gateway}/.auth/console`, { timeout: WAIT_MS });
  expect(res?.status()).toBe(200);
  expect(res?.headers()["content-security-policy"]).toContain("default-src 'none'");
  return watched;
}

async function screenshot(page: Page, name: string): Promise<void> {
  const path = join(SCREENSHOTS, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

const textOf = (page: Page, selector: string) => page.locator(selector).innerText();

describe("GET /.auth/console in chromium", () => {
  it("shows health, streams and lists a revoke made in its form, with no CSP violation or console error", async () => {
    const { page, problems, urls } = await openConsole();
    await screenshot(page, "console-1-loaded.png");
    expect(await page.title()).toBe("edge-jwt-authorizer console");

    await page.fill("#token", stack.adminToken);
    await page.click("#login button[type=submit]");
    await page.locator("#session", { hasText: "Connected" }).waitFor();
    await page.locator("#health", { hasText: stack.issuer }).waitFor();
    expect(await textOf(page, "#health")).toMatch(/Revocation view \(this isolate\)/i);
    await page.locator("#stream-status", { hasText: "Live" }).waitFor();
    await page.locator("#feed-status", { hasText: "the end of the feed" }).waitFor();
    expect(await page.inputValue("#token")).toBe(""); // the token left the field for the page's memory
    await screenshot(page, "console-2-health.png");

    // A value an attacker chose: shown as text, never parsed as markup.
    const value = `<img src=x onerror="document.title='pwned'">mallory-${Date.now()}`;
    await page.selectOption("#revoke-kind", "sub");
    await page.fill("#revoke-value", value);
    await page.click("#revoke button[type=submit]");
    await page.locator("#revoke-status", { hasText: "Revoked as seq" }).waitFor();
    await page.locator("#stream li", { hasText: value }).waitFor();
    await page.locator("#feed tbody tr", { hasText: value }).waitFor();

    // One revoked elsewhere (the API, as an origin would) arrives through the stream too.
    const elsewhere = await fetch(`${stack.gateway}/.auth/revoke`, {
      method: "POST",
      headers: { Authorization: `Bearer ${stack.adminToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ sid: "session-from-elsewhere" }),
      signal: AbortSignal.timeout(WAIT_MS),
    });
    expect(elsewhere.status).toBe(200);
    await page.locator("#stream li", { hasText: "session-from-elsewhere" }).waitFor();
    await page.locator("#feed tbody tr", { hasText: "session-from-elsewhere" }).waitFor(); // a feed at its end follows
    await screenshot(page, "console-3-revoked.png");

    expect(await page.locator("img").count()).toBe(0);
    expect(await page.title()).toBe("edge-jwt-authorizer console");
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    const encoded = Buffer.from(stack.adminToken).toString("base64url");
    for (const url of urls) expect(url).not.toMatch(new RegExp(`${stack.adminToken}|${encoded}`));
    expect(urls.some((url) => url.startsWith("ws://") && url.includes("/.auth/revocations/stream"))).toBe(true);
    expect(problems).toEqual([]);
  });

  it("shows the refusal of a wrong token, and opens no stream with it", async () => {
    const { page, problems, urls } = await openConsole();
    await page.fill("#token", "wrong-admin-token-0000000");
    await page.click("#login button[type=submit]");
    await page.locator("#session", { hasText: "Refused" }).waitFor();
    const session = await textOf(page, "#session");
    expect(session).toContain("401 Admin token required (admin_unauthorized)");
    expect(await textOf(page, "#health")).toBe("");
    expect(await textOf(page, "#stream-status")).toBe("Not connected.");
    await screenshot(page, "console-4-refused.png");
    expect(urls.some((url) => url.startsWith("ws://"))).toBe(false);
    // The browser reports the refused call itself; nothing else (no CSP violation, no script error).
    expect(problems.filter((p) => !p.includes("status of 401"))).toEqual([]);
    expect(problems.length).toBeGreaterThan(0);
  });
});

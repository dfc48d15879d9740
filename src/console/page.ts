// GET /.auth/console: the operator console, one self-contained HTML page (inline CSS and JS, nothing
// fetched from elsewhere, nothing to build). It holds no data: anyone may load it, and each call it
// makes (health, the feed, the stream, revoke) carries the admin token typed into it, which stays in
// the page's memory (sessionStorage only when the operator asks to keep it for the tab), never in a
// URL. Its script and style are allowed by their SHA-256 in the page's CSP (src/routes/console.ts).
//
// The live stream: a browser's WebSocket cannot send Authorization, and a token in the URL's query
// would end up in access logs, so the page offers two subprotocols, `edge-jwt-authorizer.revocations.v1`
// and `base64url.bearer.edge-jwt-authorizer.<the token, base64url>`; the stream route reads the token
// from the second and selects the first, so the token is never echoed (src/routes/revocations.ts).
// Polling the feed with `since` would also work, but late by its interval and at a request each time.
import { CONSOLE_SCRIPT } from "./script";

export { CONSOLE_SCRIPT };

export const CONSOLE_STYLE: string = `
:root { color-scheme: light dark; --fg: #1f2328; --muted: #59636e; --bg: #fff; --panel: #f6f8fa; --line: #d1d9e0;
  --good: #1a7f37; --bad: #cf222e; --warn: #9a6700; font: 14px/1.45 system-ui, sans-serif; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #151b23; --line: #3d444d;
    --good: #3fb950; --bad: #f85149; --warn: #d29922; }
}
body { margin: 0; color: var(--fg); background: var(--bg); }
header { padding: 12px 20px; border-bottom: 1px solid var(--line); background: var(--panel); }
h1 { font-size: 18px; margin: 0 0 8px; }
h2 { font-size: 15px; margin: 0; }
h3 { font-size: 12px; margin: 14px 0 4px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 16px; padding: 16px 20px; }
section { border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; min-width: 0; }
.bar { display: flex; gap: 8px; align-items: center; justify-content: space-between; }
form { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin: 8px 0; }
label { display: flex; flex-direction: column; gap: 2px; font-size: 12px; color: var(--muted); }
label.inline { flex-direction: row; align-items: center; gap: 4px; }
input, select, button { font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 4px;
  background: var(--bg); color: var(--fg); }
input[type="checkbox"] { padding: 0; }
button { cursor: pointer; background: var(--panel); }
button:disabled { opacity: .5; cursor: default; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); vertical-align: top;
  overflow-wrap: anywhere; }
th { color: var(--muted); font-weight: 600; }
table.pairs th { width: 40%; }
h4 { font-size: 12px; margin: 10px 0 2px; overflow-wrap: anywhere; }
#feed th, #feed td:nth-child(-n+2), #feed td:nth-child(n+5) { white-space: nowrap; }
.status { margin: 6px 0; }
.good { color: var(--good); }
.bad { color: var(--bad); }
.warn { color: var(--warn); }
.muted { color: var(--muted); }
pre { background: var(--panel); padding: 8px; border-radius: 4px; font-size: 12px; white-space: pre-wrap;
  overflow-wrap: anywhere; }
pre:empty { display: none; }
#stream { list-style: none; padding: 0; margin: 0; max-height: 420px; overflow: auto; font: 12px ui-monospace, monospace; }
#stream li { display: flex; flex-wrap: wrap; gap: 8px; padding: 3px 0; border-bottom: 1px solid var(--line); }
#stream .value { font-weight: 600; overflow-wrap: anywhere; }
.scroll { max-height: 420px; overflow: auto; }
[hidden] { display: none !important; }
`;

/** The page: every element the script looks up by id is here; no inline handler, no style attribute. */
export const CONSOLE_PAGE: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>edge-jwt-authorizer console</title>
<style>${CONSOLE_STYLE}</style>
</head>
<body>
<header>
  <h1>edge-jwt-authorizer: operator console</h1>
  <form id="login" method="post" autocomplete="off">
    <label>Admin token <input id="token" type="password" autocomplete="off" spellcheck="false" size="40" required></label>
    <label class="inline"><input id="remember" type="checkbox"> keep for this tab</label>
    <button type="submit">Connect</button>
    <button type="button" id="forget">Forget</button>
  </form>
  <p id="session" class="status muted" role="status">Not connected: type one of the ADMIN_TOKENS. It stays in this page.</p>
</header>
<main>
  <section aria-labelledby="health-title">
    <div class="bar"><h2 id="health-title">Health</h2><button type="button" id="health-refresh">Refresh</button></div>
    <p id="health-status" class="status muted">Not connected.</p>
    <div id="health"></div>
  </section>
  <section aria-labelledby="stream-title">
    <h2 id="stream-title">Live revocations</h2>
    <p id="stream-status" class="status muted" role="status">Not connected.</p>
    <ol id="stream"></ol>
  </section>
  <section aria-labelledby="feed-title">
    <h2 id="feed-title">Feed</h2>
    <form id="feed-form" method="post">
      <label>After seq <input id="feed-since" type="number" min="0" step="1" value="0"></label>
      <label>Page size <select id="feed-limit"><option>10</option><option selected>50</option><option>100</option><option>1000</option></select></label>
      <button type="submit">Load</button>
      <button type="button" id="feed-prev" disabled>Previous</button>
      <button type="button" id="feed-next" disabled>Next</button>
      <button type="button" id="feed-refresh">Refresh</button>
    </form>
    <p id="feed-status" class="status muted" role="status">Not connected.</p>
    <div class="scroll">
      <table id="feed">
        <thead><tr><th>seq</th><th>kind</th><th>value</th><th>issuer</th><th>revoked at</th><th>until</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>
  <section aria-labelledby="revoke-title">
    <h2 id="revoke-title">Revoke</h2>
    <form id="revoke" method="post" autocomplete="off">
      <label>What <select id="revoke-kind">
        <option value="sub">a user: every token of a subject (sub)</option>
        <option value="sid">a session: every token of a session (sid)</option>
        <option value="token">one token, by its value</option>
        <option value="jti">one token, by its jti and exp</option>
      </select></label>
      <label>Value <input id="revoke-value" autocomplete="off" spellcheck="false" required></label>
      <label>Issuer (optional) <input id="revoke-iss" autocomplete="off" spellcheck="false"></label>
      <label>exp (Unix seconds) <input id="revoke-exp" type="number" min="1" step="1"></label>
      <button type="submit">Revoke</button>
    </form>
    <p id="revoke-status" class="status" role="status"></p>
    <pre id="revoke-body"></pre>
  </section>
</main>
<script>${CONSOLE_SCRIPT}</script>
</body>
</html>
`;

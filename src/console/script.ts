// The operator console's browser code, one inline script (its SHA-256 is in the page's CSP). It holds
// the admin token in a variable (and in sessionStorage only when asked), sends it in Authorization on
// every fetch and as a WebSocket subprotocol to the stream (src/routes/revocations.ts), and renders
// every value from the server with textContent: a revocation's value is whatever its sender chose.
// Plain ES2020 in a String.raw template: no backticks and no dollar-brace inside, no build step.
import { STREAM_PROTOCOL, STREAM_TOKEN_PROTOCOL_PREFIX } from "../routes/revocations";
import { RENDERING } from "./render";

export const CONSOLE_SCRIPT: string = String.raw`
"use strict";
(() => {
  const PROTOCOL = ${JSON.stringify(STREAM_PROTOCOL)};
  const TOKEN_PROTOCOL_PREFIX = ${JSON.stringify(STREAM_TOKEN_PROTOCOL_PREFIX)};
  const STORAGE_KEY = "edge-jwt-authorizer.console.admin-token";
  const TIMEOUT_MS = 10000;
  const HEALTH_EVERY_MS = 10000;
  const PING_EVERY_MS = 30000;
  const STREAM_KEEP = 200;
  const $ = (id) => document.getElementById(id);
  const ui = {
    login: $("login"), token: $("token"), remember: $("remember"), forget: $("forget"), session: $("session"),
    health: $("health"), healthStatus: $("health-status"), healthRefresh: $("health-refresh"),
    stream: $("stream"), streamStatus: $("stream-status"),
    feed: $("feed"), feedStatus: $("feed-status"), feedForm: $("feed-form"), feedSince: $("feed-since"),
    feedLimit: $("feed-limit"), feedPrev: $("feed-prev"), feedNext: $("feed-next"), feedRefresh: $("feed-refresh"),
    revoke: $("revoke"), kind: $("revoke-kind"), value: $("revoke-value"), iss: $("revoke-iss"), exp: $("revoke-exp"),
    revokeStatus: $("revoke-status"), revokeBody: $("revoke-body"),
  };

  let token = null; // the admin token: here, and in sessionStorage only with "keep for this tab"
  let generation = 0; // bumped by each connect and forget: answers of an older session are dropped
  let newestSeq = 0; // the newest seq this page has seen (stream, feed, revoke)
  let lastHealth = null;
  let healthTimer = 0;
  let stream = null;
  const feed = { since: 0, next: null, previous: [], loaded: false, timer: 0 };

${RENDERING}
  // Every call: same origin, the admin token in Authorization, no cookie, no cache, bounded.
  async function call(method, path, body) {
    const headers = { Authorization: "Bearer " + token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const response = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store", credentials: "omit", redirect: "error", signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      const text = await response.text();
      let json = null;
      try { json = JSON.parse(text); } catch (e) { json = null; }
      return { ok: response.ok, status: response.status, body: json, text };
    } catch (error) {
      return { ok: false, status: 0, body: null, text: String((error && error.message) || error) };
    }
  }

  function seen(seq) {
    if (typeof seq === "number" && seq > newestSeq) {
      newestSeq = seq;
      if (lastHealth) renderHealth(lastHealth);
    }
  }

  async function loadHealth(mine) {
    const answer = await call("GET", "/.auth/health");
    if (mine !== generation) return;
    if (!answer.ok || !answer.body) return status(ui.healthStatus, "Health: " + describe(answer), "bad");
    lastHealth = answer.body;
    renderHealth(answer.body);
    status(ui.healthStatus, "As of " + new Date().toISOString() + " (one isolate's view; refreshed every 10 s)", "");
  }
  function renderHealth(h) {
    const revocation = h.revocation || {};
    const view = revocation.view || {};
    const lag = typeof view.seq === "number" && newestSeq > view.seq ? newestSeq - view.seq : 0;
    ui.health.replaceChildren(
      pairs([
        ["status", h.status], ["admin tokens", h.adminTokens], ["origin", h.originUrl],
        ["policy routes", h.policy && h.policy.routes], ["clients", h.clients],
        ["forward Authorization", h.forwardAuthorization], ["clock tolerance (s)", h.clockToleranceSeconds],
      ]),
      el("h3", "Revocation view (this isolate)"),
      pairs([
        ["seq", view.seq], ["newest seq seen here", newestSeq || null], ["lag (entries)", lag],
        ["age (s)", view.ageSeconds], ["path", view.path], ["entries", view.entries],
        ["max staleness (s)", revocation.maxStalenessSeconds], ["KV reads", view.kvReads],
        ["fresh head failures", view.freshFailures], ["last error", view.lastError],
      ]),
      el("h3", "Issuers and their JWKS"),
      cards(h.issuers, "issuer", "No issuer."),
      el("h3", "Token Status Lists"),
      cards(h.statusLists, "uri", "None loaded."),
      el("h3", "Shared Signals transmitters"),
      cards(h.transmitters, "issuer", "None configured."),
      el("h3", "Logouts and security events (this isolate)"),
      pairs(Object.entries(flatten(h.events || {}, "", {}))),
    );
  }

  function openStream(mine) {
    const s = stream || (stream = { socket: null, since: null, failures: 0, timer: 0, ping: 0 });
    const url = new URL("/.auth/revocations/stream", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (s.since !== null) url.searchParams.set("since", String(s.since)); // a seq, never the token
    const encoded = btoa(token).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const socket = new WebSocket(url.href, [PROTOCOL, TOKEN_PROTOCOL_PREFIX + encoded]);
    let opened = false;
    s.socket = socket;
    status(ui.streamStatus, "Connecting...", "");
    socket.addEventListener("open", () => {
      if (mine !== generation) return;
      opened = true;
      s.failures = 0;
      status(ui.streamStatus, "Live" + (s.since === null ? " from now" : " after seq " + s.since) + ".", "good");
      s.ping = setInterval(() => socket.readyState === 1 && socket.send("ping"), PING_EVERY_MS);
    });
    socket.addEventListener("message", (message) => {
      if (mine !== generation || typeof message.data !== "string" || message.data === "pong") return;
      let e = null;
      try { e = JSON.parse(message.data); } catch (error) { return; }
      if (!isEvent(e) || (s.since !== null && e.seq <= s.since)) return;
      s.since = e.seq;
      seen(e.seq);
      const li = el("li");
      const [seq, kind, value, iss, at, expires] = eventRow(e);
      li.append(el("span", "#" + seq, "seq"), el("span", kind, "kind"), el("span", value, "value"),
        el("span", iss, "muted"), el("span", "at " + at + ", until " + expires, "muted"));
      ui.stream.prepend(li);
      while (ui.stream.childElementCount > STREAM_KEEP) ui.stream.lastElementChild.remove();
      if (feed.loaded && feed.next === null) refreshFeedSoon(mine); // a feed shown to its end stays there
    });
    socket.addEventListener("close", async (close) => {
      clearInterval(s.ping);
      if (mine !== generation || s.socket !== socket) return;
      s.socket = null;
      if (!opened) {
        // A failed handshake says not why; without Upgrade the route answers 426 to a good token.
        const why = await call("GET", "/.auth/revocations/stream");
        if (mine !== generation) return;
        if (why.status >= 400 && why.status < 500 && ![408, 426, 429].includes(why.status))
          return status(ui.streamStatus, "Refused: " + describe(why), "bad");
      }
      s.failures += 1;
      const delay = Math.min(30000, 500 * 2 ** Math.min(s.failures, 6));
      status(ui.streamStatus, "Closed (code " + close.code + "); reconnecting in " + Math.ceil(delay / 1000) +
        " s" + (s.since === null ? " (what arrives meanwhile is in the feed)." : " after seq " + s.since + "."), "warn");
      s.timer = setTimeout(() => mine === generation && openStream(mine), delay);
    });
  }

  function refreshFeedSoon(mine) {
    clearTimeout(feed.timer);
    feed.timer = setTimeout(() => mine === generation && loadFeed(feed.since, mine), 300);
  }
  async function loadFeed(since, mine) {
    const limit = Number(ui.feedLimit.value);
    status(ui.feedStatus, "Loading...", "");
    const answer = await call("GET", "/.auth/revocations?since=" + since + "&limit=" + limit);
    if (mine !== generation) return;
    if (!answer.ok || !answer.body || !Array.isArray(answer.body.events))
      return status(ui.feedStatus, "Feed: " + describe(answer), "bad");
    feed.since = since;
    feed.next = answer.body.next;
    feed.loaded = true;
    const body = ui.feed.tBodies[0];
    body.replaceChildren();
    for (const e of answer.body.events.filter(isEvent)) {
      seen(e.seq);
      const tr = body.insertRow();
      for (const cell of eventRow(e)) tr.append(el("td", cell));
    }
    const count = answer.body.events.length;
    status(ui.feedStatus, count + " after seq " + since + (feed.next === null ? " (the end of the feed)." : "; more after seq " + feed.next + "."), "");
    ui.feedNext.disabled = feed.next === null;
    ui.feedPrev.disabled = feed.previous.length === 0;
  }

  function revokeBody() {
    const kind = ui.kind.value;
    const value = ui.value.value.trim();
    const iss = ui.iss.value.trim();
    const body = {};
    body[kind] = value;
    if (kind === "jti") body.exp = Number(ui.exp.value);
    if (kind !== "token" && iss !== "") body.iss = iss;
    return body;
  }
  async function submitRevoke(mine) {
    status(ui.revokeStatus, "Revoking...", "");
    ui.revokeBody.textContent = "";
    const answer = await call("POST", "/.auth/revoke", revokeBody());
    if (mine !== generation) return;
    ui.revokeBody.textContent = answer.body ? JSON.stringify(answer.body, null, 2) : answer.text;
    if (!answer.ok || !answer.body || !answer.body.revocation) return status(ui.revokeStatus, "Refused: " + describe(answer), "bad");
    const r = answer.body.revocation;
    status(ui.revokeStatus, "Revoked as seq " + answer.body.seq + ": " + r.kind + " until " + time(r.expiresAt) + ".", "good");
    seen(answer.body.seq);
    if (feed.next === null) refreshFeedSoon(mine);
  }
  function showFields() {
    ui.iss.closest("label").hidden = ui.kind.value === "token";
    ui.exp.closest("label").hidden = ui.kind.value !== "jti";
    ui.exp.required = ui.kind.value === "jti";
  }

  function disconnect() {
    generation += 1;
    token = null;
    lastHealth = null;
    clearInterval(healthTimer);
    clearTimeout(feed.timer);
    feed.loaded = false;
    if (stream) {
      clearTimeout(stream.timer);
      clearInterval(stream.ping);
      if (stream.socket) stream.socket.close(1000, "bye");
      stream = null;
    }
    document.body.classList.remove("connected");
    newestSeq = 0;
    ui.health.replaceChildren();
    ui.stream.replaceChildren();
    ui.feed.tBodies[0].replaceChildren();
    for (const node of [ui.healthStatus, ui.streamStatus, ui.feedStatus]) status(node, "Not connected.", "muted");
  }
  function keep(value) {
    try {
      if (value === null) sessionStorage.removeItem(STORAGE_KEY);
      else sessionStorage.setItem(STORAGE_KEY, value);
    } catch (error) { /* storage turned off: memory only */ }
  }
  async function connect(value) {
    disconnect();
    if (!/^[\x21-\x7e]+$/.test(value)) return status(ui.session, "An admin token is printable ASCII without spaces.", "bad");
    token = value;
    const mine = generation;
    status(ui.session, "Checking the token...", "");
    const probe = await call("GET", "/.auth/revocations?limit=1");
    if (mine !== generation) return;
    if (!probe.ok) {
      const refused = probe.status === 401 || probe.status === 403;
      if (refused) { token = null; keep(null); }
      return status(ui.session, (refused ? "Refused: " : "The token could not be checked: ") + describe(probe), "bad");
    }
    keep(ui.remember.checked ? token : null);
    ui.token.value = "";
    document.body.classList.add("connected");
    status(ui.session, "Connected: the admin token was accepted" + (ui.remember.checked ? " (kept for this tab)." : " (kept in this page only)."), "good");
    feed.previous = [];
    await loadHealth(mine);
    healthTimer = setInterval(() => loadHealth(mine), HEALTH_EVERY_MS);
    loadFeed(Number(ui.feedSince.value) || 0, mine);
    openStream(mine);
  }

  ui.login.addEventListener("submit", (event) => { event.preventDefault(); connect(ui.token.value.trim()); });
  ui.forget.addEventListener("click", () => {
    disconnect();
    keep(null);
    ui.token.value = "";
    status(ui.session, "Forgotten: the token is gone from this page and this tab's storage.", "");
  });
  ui.healthRefresh.addEventListener("click", () => token && loadHealth(generation));
  ui.feedForm.addEventListener("submit", (event) => {
    event.preventDefault();
    feed.previous = [];
    if (token) loadFeed(Math.max(0, Math.floor(Number(ui.feedSince.value) || 0)), generation);
  });
  ui.feedNext.addEventListener("click", () => {
    if (!token || feed.next === null) return;
    feed.previous.push(feed.since);
    loadFeed(feed.next, generation);
  });
  ui.feedPrev.addEventListener("click", () => token && feed.previous.length && loadFeed(feed.previous.pop(), generation));
  ui.feedRefresh.addEventListener("click", () => token && loadFeed(feed.since, generation));
  ui.kind.addEventListener("change", showFields);
  ui.revoke.addEventListener("submit", (event) => {
    event.preventDefault();
    if (token) submitRevoke(generation);
    else status(ui.revokeStatus, "Connect with an admin token first.", "bad");
  });
  showFields();
  let kept = null;
  try { kept = sessionStorage.getItem(STORAGE_KEY); } catch (error) { kept = null; }
  if (kept) { ui.remember.checked = true; connect(kept); }
})();
`;

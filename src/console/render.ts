// The console's rendering helpers, part of its one inline script (src/console/script.ts): nodes
// built with createElement and filled with textContent only, so that no value from the server (a
// revocation's value is whatever its sender chose) is ever parsed as markup.
// Plain ES2020 in a String.raw template: no backticks and no dollar-brace inside.

export const RENDERING: string = String.raw`
  // Rendering: nodes and textContent only, never markup from a string.
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }
  function fmt(value) {
    if (value === null || value === undefined) return "-";
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (Array.isArray(value) && value.every((v) => typeof v !== "object")) return value.length ? value.join(", ") : "-";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }
  function time(seconds) {
    return typeof seconds === "number" ? new Date(seconds * 1000).toISOString().replace(".000Z", "Z") : "-";
  }
  function status(node, text, kind) {
    node.textContent = text;
    node.className = "status " + (kind || "");
  }
  function flatten(value, prefix, out) {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const key of Object.keys(value)) flatten(value[key], prefix ? prefix + "." + key : key, out);
    } else {
      out[prefix] = value;
    }
    return out;
  }
  function pairs(rows) {
    const table = el("table", null, "pairs");
    for (const [name, value] of rows) {
      const tr = table.insertRow();
      tr.append(el("th", name), el("td", fmt(value)));
    }
    return table;
  }
  // One small table per item (an issuer, a status list, a transmitter), headed by its name.
  function cards(items, title, empty) {
    if (!Array.isArray(items) || items.length === 0) return el("p", empty, "muted");
    const box = el("div");
    for (const item of items) {
      const rows = Object.entries(flatten(item, "", {})).filter(([name]) => name !== title);
      box.append(el("h4", fmt(item[title])), pairs(rows));
    }
    return box;
  }
  function describe(answer) {
    const body = answer.body;
    if (answer.status === 0) return "no answer (" + answer.text + ")";
    if (body && typeof body === "object" && typeof body.title === "string")
      return answer.status + " " + body.title + " (" + fmt(body.code) + "): " + fmt(body.detail);
    return "HTTP " + answer.status;
  }

  function isEvent(e) {
    return e && typeof e.seq === "number" && e.revocation && typeof e.revocation.value === "string";
  }
  function eventRow(e) {
    const r = e.revocation;
    return [e.seq, r.kind, r.value, r.iss === null ? "any issuer" : r.iss, time(r.at), time(r.expiresAt)];
  }

`;

// SPDX-License-Identifier: GPL-2.0-only
// The demo page: signs in once, then every 2 s asks each endpoint through the front door and
// shows, per panel, which system answered (the answer's served_by, else its X-Served-By).
// ?user=NAME signs in as NAME; ?tester=POOL sends the tester header X-Strg-Pool: POOL.
"use strict";

const params = new URLSearchParams(location.search);
const user = params.get("user") || "ada";
const tester = params.get("tester");
const panels = [
  { id: "leads", title: "Sales leads", method: "GET", path: "/v1/getSalesLeads",
    rows: (j) => (j.leads || []).map((l) => [l.company, l.stage, l.value_eur + " €"]) },
  { id: "events", title: "Marketing events", method: "GET", path: "/v1/getMarketingEvents",
    rows: (j) => (j.events || []).map((e) => [e.name, e.date, e.signups + " sign-ups"]) },
  { id: "orders", title: "My orders", method: "GET", path: "/v1/orders",
    rows: (j) => (j.orders || []).map((o) => ["#" + o.id, o.item, o.total_eur + " €"]) },
  { id: "login", title: "Session", method: "POST", path: "/v1/login", body: "user=" + user,
    rows: (j) => [["signed in as", j.user || "-", "session cookie"]] },
];
let round = 0;

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function ask(p) {
  const headers = { "Content-Type": "application/x-www-form-urlencoded" };
  if (tester) headers["X-Strg-Pool"] = tester;
  try {
    const r = await fetch(p.path, { method: p.method, headers, body: p.body,
                                    credentials: "same-origin", cache: "no-store" });
    let j = {};
    try { j = await r.json(); } catch (e) { /* not JSON */ }
    return { status: r.status, by: j.served_by || r.headers.get("X-Served-By") || "?", json: j };
  } catch (e) {
    return { status: 0, by: "none", json: {} };
  }
}

function render(p, a) {
  const kind = a.status === 0 ? "none" : a.status >= 500 ? "failed"
    : a.by === "monolith" ? "monolith" : "modern";
  const s = el("section", { class: "panel", id: "panel-" + p.id, "data-served-by": a.by,
                            "data-status": String(a.status), "data-kind": kind });
  const h = el("h2", {}, p.title);
  const label = a.status === 0 ? "no answer" : a.status >= 500 ? a.by + " " + a.status : a.by;
  h.appendChild(el("span", { class: "sys " + kind }, label));
  s.appendChild(h);
  s.appendChild(el("div", { class: "endpoint" }, p.method + " " + p.path + " → " + a.status));
  const t = el("table");
  for (const row of (a.status === 200 ? p.rows(a.json) : [[a.json.error || "-"]])) {
    const tr = el("tr");
    row.forEach((c, i) => tr.appendChild(el("td", i === 2 ? { class: "num" } : {}, c)));
    t.appendChild(tr);
  }
  s.appendChild(t);
  const old = document.getElementById("panel-" + p.id);
  if (old) old.replaceWith(s); else document.getElementById("panels").appendChild(s);
}

async function refresh() {
  // Sign in first (the orders need the session cookie), then the others side by side.
  const order = round === 0 ? [panels[3]] : [];
  for (const p of order) render(p, await ask(p));
  const rest = panels.filter((p) => !order.includes(p));
  const answers = await Promise.all(rest.map(ask));
  rest.forEach((p, i) => render(p, answers[i]));
  round += 1;
  document.body.setAttribute("data-rounds", String(round));
  document.getElementById("round").textContent = "round " + round + ", " +
    new Date().toLocaleTimeString() + (tester ? ", tester of " + tester : "");
  setTimeout(refresh, 2000);
}

document.getElementById("door").textContent = location.host;
for (const p of panels) render(p, { status: 0, by: "none", json: { error: "asking..." } });
refresh();

// pekonode's live cluster view. Reads the admin API of the node that served
// it: /v1/self and /v1/members every second, /metrics every two seconds,
// /v1/kv with watch (long-poll) for the key browser. Everything a peer put
// on the wire (names, tags, keys, values) is shown as text, never as markup.
"use strict";

const MEMBERS_EVERY_MS = 1000;
const METRICS_EVERY_MS = 2000;
const KEYS_COUNT_EVERY_MS = 5000;
const HISTORY_MS = 10 * 60 * 1000;
const STATES = ["alive", "suspect", "dead", "left"];
const MAX_CHANGES = 200;
const MAX_VALUE_SHOWN = 64 * 1024;

const $ = (id) => document.getElementById(id);

// -- talking to the node -----------------------------------------------------

let token = sessionStorage.getItem("pekonode-admin-token") || "";

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(path, options = {}) {
  const headers = {};
  if (token) headers["Authorization"] = "Bearer " + token;
  const res = await fetch(path, { headers, cache: "no-store", ...options });
  if (res.status === 401) {
    $("token-form").hidden = false;
    throw new HttpError(401, "this node wants the admin token");
  }
  if (!res.ok) {
    let msg = res.status + " " + res.statusText;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new HttpError(res.status, msg);
  }
  return res;
}

const getJson = async (path, options) => (await call(path, options)).json();

let lastError = "";
function setStatus(ok, text) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", !ok);
}

function reportError(where, e) {
  lastError = where + ": " + e.message;
  setStatus(false, lastError);
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("pekonode-admin-token", token);
  $("token-form").hidden = true;
  restartKeys();
});

// -- history -----------------------------------------------------------------

const series = {
  alive: [], suspect: [], dead: [], left: [],
  dgIn: [], dgOut: [], bytesIn: [], bytesOut: [],
  keys: [], appliedLocal: [], appliedRemote: [],
};

function record(name, t, v) {
  const s = series[name];
  s.push({ t, v });
  while (s.length && s[0].t < t - HISTORY_MS) s.shift();
}

// -- members -----------------------------------------------------------------

const known = new Map(); // name -> {state, since, incarnation}
let selfName = "";
let firstPoll = true;

function logChange(text) {
  const li = document.createElement("li");
  li.textContent = new Date().toLocaleTimeString() + "  " + text;
  const list = $("changes");
  list.insertBefore(li, list.firstChild);
  while (list.children.length > MAX_CHANGES) list.removeChild(list.lastChild);
}

async function pollMembers() {
  try {
    const self = await getJson("/v1/self");
    selfName = self.name;
    $("self-name").textContent = self.name;
    $("self-addr").textContent = self.addr + "  incarnation " + self.incarnation;
    const { members } = await getJson("/v1/members");
    const now = Date.now();
    const changed = new Set();
    const seen = new Set();
    for (const m of members) {
      seen.add(m.name);
      const prev = known.get(m.name);
      if (!prev) {
        known.set(m.name, { state: m.state, since: now });
        if (!firstPoll) {
          logChange(m.name + " appeared " + m.state);
          changed.add(m.name);
        }
      } else if (prev.state !== m.state) {
        logChange(m.name + " " + prev.state + " \u2192 " + m.state);
        known.set(m.name, { state: m.state, since: now });
        changed.add(m.name);
      }
    }
    for (const name of [...known.keys()]) {
      if (!seen.has(name)) {
        logChange(name + " removed from the member list");
        known.delete(name);
      }
    }
    firstPoll = false;
    const counts = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (const m of members) if (m.state in counts) counts[m.state]++;
    for (const s of STATES) {
      $("count-" + s).textContent = counts[s];
      record(s, now, counts[s]);
    }
    drawRing(members, changed);
    drawMembers(members);
    drawCharts();
    setStatus(true, "updated " + new Date(now).toLocaleTimeString());
  } catch (e) {
    reportError("members", e);
  }
}

const SVG = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawRing(members, changed) {
  const ring = $("ring");
  ring.replaceChildren();
  const n = members.length;
  const r = 170;
  ring.appendChild(svgEl("circle", { cx: 0, cy: 0, r, fill: "none", stroke: "#d9dde4" }));
  const dot = Math.max(4, Math.min(16, 600 / Math.max(n, 1)));
  const labels = n <= 40;
  members.forEach((m, i) => {
    const a = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2;
    const x = r * Math.cos(a);
    const y = r * Math.sin(a);
    const cls = ["node", STATES.includes(m.state) ? m.state : "left"];
    if (m.name === selfName) cls.push("self");
    if (changed.has(m.name)) cls.push("changed");
    const c = svgEl("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: dot, class: cls.join(" ") });
    c.dataset.member = m.name;
    c.dataset.state = m.state;
    c.appendChild(svgEl("title", {}, m.name + " (" + m.state + ") " + m.addr));
    ring.appendChild(c);
    if (labels) {
      const lx = (r + dot + 14) * Math.cos(a);
      const ly = (r + dot + 14) * Math.sin(a) + 4;
      ring.appendChild(svgEl("text", { x: lx.toFixed(1), y: ly.toFixed(1) }, m.name));
    }
  });
  ring.appendChild(svgEl("text", { x: 0, y: 4 }, n + " members"));
}

function drawMembers(members) {
  const body = $("members").tBodies[0];
  const rows = [];
  for (const m of members) {
    const tr = document.createElement("tr");
    tr.dataset.member = m.name;
    tr.dataset.state = m.state;
    tr.className = (STATES.includes(m.state) ? m.state : "left") + (m.name === selfName ? " self" : "");
    const since = known.get(m.name);
    const cells = [m.name, m.addr, m.state, String(m.incarnation),
                   since ? ago(since.since) : ""];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 2) td.className = "state";
      tr.appendChild(td);
    });
    const tags = document.createElement("td");
    for (const [k, v] of Object.entries(m.tags || {})) {
      const span = document.createElement("span");
      span.className = "tag";
      span.textContent = k + "=" + v;
      tags.appendChild(span);
    }
    tr.appendChild(tags);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function ago(t) {
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  return Math.floor(s / 3600) + " h";
}

// -- metrics -----------------------------------------------------------------

// Prometheus text: `name{label="v",...} value`, comments skipped.
function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m) out.set(m[1] + (m[2] || ""), Number(m[3]));
  }
  return out;
}

let lastMetrics = null;
async function pollMetrics() {
  try {
    const text = await (await call("/metrics")).text();
    const now = Date.now();
    const m = parseMetrics(text);
    const get = (k) => m.get(k) || 0;
    const cur = {
      t: now,
      dgIn: get('pekonode_transport_datagrams_total{direction="in"}'),
      dgOut: get('pekonode_transport_datagrams_total{direction="out"}'),
      bytesIn: get('pekonode_transport_bytes_total{direction="in"}'),
      bytesOut: get('pekonode_transport_bytes_total{direction="out"}'),
      appliedLocal: get('pekonode_metadata_applied_total{origin="local"}'),
      appliedRemote: get('pekonode_metadata_applied_total{origin="remote"}'),
    };
    if (lastMetrics && now > lastMetrics.t) {
      const dt = (now - lastMetrics.t) / 1000;
      for (const k of Object.keys(cur)) {
        if (k === "t") continue;
        // A counter that went down: the node restarted; skip the sample.
        const d = cur[k] - lastMetrics[k];
        if (d >= 0) record(k, now, d / dt);
      }
    }
    lastMetrics = cur;
    drawCharts();
  } catch (e) {
    reportError("metrics", e);
  }
}

async function pollKeyCount() {
  try {
    const { keys } = await getJson("/v1/kv");
    record("keys", Date.now(), keys.length);
  } catch (e) {
    reportError("keys", e);
  }
}

// -- charts ------------------------------------------------------------------

const W = 400, H = 140, PAD_L = 44, PAD_B = 18, PAD_T = 8;

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const f of [1, 2, 5, 10]) if (v <= f * p) return f * p;
  return 10 * p;
}

function fmt(v) {
  if (v >= 1e9) return (v / 1e9).toFixed(1) + "G";
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return String(Math.round(v * 10) / 10);
}

function drawChart(id, names, classes) {
  const svg = $(id);
  svg.replaceChildren();
  const now = Date.now();
  const t0 = now - HISTORY_MS;
  let max = 0;
  for (const n of names) for (const p of series[n]) max = Math.max(max, p.v);
  max = niceMax(max);
  const x = (t) => PAD_L + ((t - t0) / HISTORY_MS) * (W - PAD_L - 4);
  const y = (v) => H - PAD_B - (v / max) * (H - PAD_B - PAD_T);
  svg.appendChild(svgEl("line", { x1: PAD_L, y1: y(0), x2: W - 4, y2: y(0) }));
  svg.appendChild(svgEl("line", { x1: PAD_L, y1: y(max), x2: W - 4, y2: y(max) }));
  svg.appendChild(svgEl("text", { x: 2, y: y(max) + 4 }, fmt(max)));
  svg.appendChild(svgEl("text", { x: 2, y: y(0) + 4 }, "0"));
  svg.appendChild(svgEl("text", { x: PAD_L, y: H - 4 }, "-10 min"));
  svg.appendChild(svgEl("text", { x: W - 30, y: H - 4 }, "now"));
  names.forEach((n, i) => {
    const pts = series[n].filter((p) => p.t >= t0);
    if (!pts.length) return;
    const d = pts.map((p, j) => (j ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.v).toFixed(1)).join(" ");
    const path = svgEl("path", { d, class: classes[i] });
    path.dataset.series = n;
    path.dataset.last = String(pts[pts.length - 1].v);
    svg.appendChild(path);
  });
}

let chartsPending = false;
function drawCharts() {
  if (chartsPending) return;
  chartsPending = true;
  requestAnimationFrame(() => {
    chartsPending = false;
    drawChart("chart-members", STATES, STATES.map((s) => "s-" + s));
    drawChart("chart-datagrams", ["dgIn", "dgOut"], ["s-in", "s-out"]);
    drawChart("chart-bytes", ["bytesIn", "bytesOut"], ["s-in", "s-out"]);
    drawChart("chart-metadata", ["keys", "appliedLocal", "appliedRemote"],
              ["s-keys", "s-local", "s-remote"]);
  });
}

// -- key browser -------------------------------------------------------------

let keyGeneration = 0;   // bumps when the prefix or the watch box changes
let selectedKey = null;

function restartKeys() {
  keyGeneration++;
  browseKeys(keyGeneration);
}

async function listKeys(prefix) {
  const q = prefix ? "?prefix=" + encodeURIComponent(prefix) : "";
  return getJson("/v1/kv" + q);
}

function drawKeys(keys, changed) {
  const rows = keys.map((k) => {
    const tr = document.createElement("tr");
    tr.dataset.key = k.key;
    if (k.key === selectedKey) tr.classList.add("selected");
    if (changed.has(k.key)) tr.classList.add("changed");
    for (const text of [k.key, fmt(k.size) + " B", k.version, k.origin,
                        new Date(k.updated_unix_ms).toLocaleString()]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    tr.addEventListener("click", () => showValue(k.key));
    return tr;
  });
  $("key-list").tBodies[0].replaceChildren(...rows);
}

async function showValue(key) {
  selectedKey = key;
  for (const tr of $("key-list").tBodies[0].rows)
    tr.classList.toggle("selected", tr.dataset.key === key);
  $("value-key").textContent = key;
  try {
    const res = await call("/v1/kv/" + encodeURIComponent(key));
    const buf = new Uint8Array(await res.arrayBuffer());
    const shown = buf.subarray(0, MAX_VALUE_SHOWN);
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(shown);
    } catch (e) {
      text = Array.from(shown.subarray(0, 4096), (b) => b.toString(16).padStart(2, "0")).join(" ");
      text = "(binary, hex)\n" + text;
    }
    if (buf.length > shown.length) text += "\n… " + buf.length + " bytes in all";
    $("value").textContent = text;
  } catch (e) {
    $("value").textContent = e.status === 404 ? "(deleted)" : "error: " + e.message;
  }
}

async function browseKeys(gen) {
  const prefix = $("prefix").value;
  let index = 0;
  let first = true;
  while (gen === keyGeneration) {
    try {
      let changed = new Set();
      if (!first && $("watch").checked) {
        const w = await getJson("/v1/kv?watch=1&wait=30s&index=" + index
                                + (prefix ? "&prefix=" + encodeURIComponent(prefix) : ""));
        if (gen !== keyGeneration) return;
        changed = new Set(w.events.map((e) => e.key));
        if (!w.truncated && !w.events.length) {
          index = w.index;
          continue;
        }
      }
      const list = await listKeys(prefix);
      if (gen !== keyGeneration) return;
      index = list.index;
      $("key-index").textContent = list.keys.length + " keys, index " + index;
      drawKeys(list.keys, changed);
      if (selectedKey !== null && changed.has(selectedKey)) showValue(selectedKey);
      first = false;
      if (!$("watch").checked) return;
    } catch (e) {
      reportError("keys", e);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

$("key-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  restartKeys();
});
$("prefix").addEventListener("change", restartKeys);
$("watch").addEventListener("change", restartKeys);

// -- start -------------------------------------------------------------------

// The next poll starts `ms` after the previous one finished: a slow node
// never has two of the same request in flight from this page.
function every(ms, fn) {
  const tick = async () => {
    await fn();
    setTimeout(tick, ms);
  };
  tick();
}

every(MEMBERS_EVERY_MS, pollMembers);
every(METRICS_EVERY_MS, pollMetrics);
every(KEYS_COUNT_EVERY_MS, pollKeyCount);
restartKeys();

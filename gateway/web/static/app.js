// EdgeTwin status page: renders /api/status, then follows /events (server-sent events).
// Plain DOM, no framework, no network access beyond this gateway. Text is always set with
// textContent, never parsed as HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const cards = new Map(); // patient id -> {root, ...}
  let lastDoc = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function age(s) {
    if (s === null || s === undefined) return "—";
    if (s < 1) return "now";
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    if (s < 172800) return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
    return Math.round(s / 86400) + " d";
  }

  function ago(s) {
    const a = age(s);
    return a === "now" || a === "—" ? a : a + " ago";
  }

  function bytes(n) {
    if (n === null || n === undefined) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + units[i];
  }

  function num(v) {
    if (v === null || v === undefined) return "—";
    if (Math.abs(v) >= 100 || Number.isInteger(v)) return String(Math.round(v));
    return v.toFixed(1);
  }

  function pill(node, text, kind) {
    node.textContent = text;
    node.className = "pill " + kind;
  }

  // -- sparkline -------------------------------------------------------------------------
  function spark(canvas, values) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 120, h = canvas.clientHeight || 30;
    if (canvas.width !== Math.round(w * ratio)) canvas.width = Math.round(w * ratio);
    if (canvas.height !== Math.round(h * ratio)) canvas.height = Math.round(h * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const vals = values.filter((v) => v !== null);
    if (vals.length < 2) return;
    let lo = Math.min(...vals), hi = Math.max(...vals);
    const minSpan = Math.max(1, Math.abs(hi) * 0.02); // do not magnify sensor noise
    if (hi - lo < minSpan) { const mid = (hi + lo) / 2; lo = mid - minSpan / 2; hi = mid + minSpan / 2; }
    const pad = 3, n = values.length;
    const x = (i) => pad + (i * (w - 2 * pad)) / Math.max(1, n - 1);
    const y = (v) => h - pad - ((v - lo) * (h - 2 * pad)) / (hi - lo);
    ctx.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue("--spark") || "#5dade2";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let pen = false;
    values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      if (pen) ctx.lineTo(x(i), y(v)); else ctx.moveTo(x(i), y(v));
      pen = true;
    });
    ctx.stroke();
    for (let i = n - 1; i >= 0; i--) {
      if (values[i] !== null) {
        ctx.fillStyle = ctx.strokeStyle;
        ctx.beginPath();
        ctx.arc(x(i), y(values[i]), 2.2, 0, 2 * Math.PI);
        ctx.fill();
        break;
      }
    }
  }

  // -- sections --------------------------------------------------------------------------
  function renderHeader(s) {
    $("gateway").textContent = s.gateway + " · " + s.site;
    pill($("pill-gateway"), s.running ? "gateway running" : "gateway not running", s.running ? "ok" : "bad");
    const up = s.uplink;
    const upKind = !up.enabled ? "warn" : up.connected ? "ok" : "bad";
    pill($("pill-uplink"), up.enabled ? "uplink " + up.state : "uplink disabled", upKind);
    const note = $("note");
    note.hidden = !s.note;
    note.textContent = s.note || "";
    $("updated").textContent = "updated " + new Date(s.generated_ns / 1e6).toLocaleTimeString();
  }

  function renderSummary(s) {
    const counts = { high: 0, medium: 0, low: 0 };
    s.patients.forEach((p) => p.alarms.forEach((a) => { if (a.priority in counts) counts[a.priority]++; }));
    for (const k of Object.keys(counts)) {
      const b = $("alarms-" + k);
      b.textContent = counts[k];
      b.classList.toggle("zero", counts[k] === 0);
    }
    const b = s.buffer;
    $("buffer-records").textContent = b.records + " records in " + b.rows + " batches";
    $("buffer-oldest").textContent = b.oldest_unsent_age_s === null ? "nothing waiting" : age(b.oldest_unsent_age_s);
    $("buffer-disk").textContent = bytes(b.used_bytes) + " of " + bytes(b.budget_bytes);
    $("buffer-evicted").textContent = b.evicted;
    const pct = b.budget_bytes ? Math.min(100, (100 * b.used_bytes) / b.budget_bytes) : 0;
    const meter = $("buffer-meter");
    meter.style.width = pct.toFixed(1) + "%";
    meter.style.background = pct > 90 ? "var(--bad)" : pct > 70 ? "var(--warn)" : "var(--ok)";
    const u = s.uplink;
    $("uplink-state").textContent = u.state;
    $("uplink-target").textContent = u.target;
    $("uplink-lag").textContent = b.oldest_unsent_age_s === null ? "none" : age(u.lag_s);
    $("uplink-ack").textContent = u.last_ack_age_s === null ? "never" : ago(u.last_ack_age_s);
    $("uplink-acked").textContent = u.acked_records === null ? "—" : u.acked_records + " records this run";
    const err = $("uplink-error");
    err.hidden = !u.error;
    err.textContent = u.error || "";
  }

  function patientCard(p) {
    const root = el("article", "patient");
    root.dataset.patient = p.id;
    const head = el("div", "patient-head");
    const who = el("div");
    who.append(el("div", "bed", p.bed || p.id), el("div", "pid", p.bed ? p.id : ""));
    const news = el("div", "news2");
    news.title = "NEWS2";
    const score = el("span", "score", "—");
    const band = el("span", "band", "NEWS2");
    const partial = el("span", "partial", "");
    news.append(score, band, partial);
    head.append(who, news);
    const alarms = el("ul", "alarms");
    const table = el("table", "vitals");
    const body = el("tbody");
    table.append(body);
    const empty = el("p", "empty", "no values yet");
    root.append(head, alarms, table, empty);
    return { root, news, score, band, partial, alarms, body, empty, rows: new Map() };
  }

  function renderPatient(card, p) {
    const n = p.news2;
    const risk = n ? n.risk : null;
    card.root.className = "patient" + (risk ? " risk-" + risk : "");
    card.news.className = "news2" + (risk ? " risk-" + risk : "");
    card.score.textContent = n ? (n.partial ? "≥" : "") + n.total : "—";
    card.band.textContent = n ? n.risk : "NEWS2";
    card.partial.textContent = n && n.partial ? "partial" : "";
    card.news.title = n ? "NEWS2 " + n.total + " (" + n.risk + ")" +
      (n.partial ? "; not scored: " + n.missing.join(", ") : "") : "no NEWS2 yet";

    card.alarms.replaceChildren(...p.alarms.map((a) => {
      const li = el("li", "alarm prio-" + a.priority);
      li.append(el("span", null, a.priority.toUpperCase() + " · " + a.condition), el("span", null, age(a.since_s)));
      return li;
    }));

    const seen = new Set();
    p.vitals.forEach((v, i) => {
      seen.add(v.stream);
      let row = card.rows.get(v.stream);
      if (!row) {
        const tr = el("tr");
        tr.dataset.stream = v.stream;
        const label = el("td", "label");
        const value = el("td", "value");
        const unit = el("td", "unit");
        const plot = el("td", "plot");
        const canvas = el("canvas");
        canvas.setAttribute("aria-label", "trend");
        plot.append(canvas);
        const ageCell = el("td", "age");
        tr.append(label, value, unit, plot, ageCell);
        row = { tr, label, value, unit, canvas, ageCell };
        card.rows.set(v.stream, row);
      }
      if (card.body.children[i] !== row.tr) card.body.insertBefore(row.tr, card.body.children[i] || null);
      row.label.textContent = v.label;
      if (v.value === null || v.quality.length) {
        row.value.textContent = v.value === null ? "—" : num(v.value) + "?";
        row.value.className = "value missing";
        row.value.title = v.quality.join(", ");
      } else {
        row.value.textContent = num(v.value);
        row.value.className = "value";
        row.value.title = "";
      }
      row.unit.textContent = v.unit;
      row.ageCell.textContent = age(v.age_s);
      spark(row.canvas, v.trend);
    });
    for (const [stream, row] of card.rows) {
      if (!seen.has(stream)) { row.tr.remove(); card.rows.delete(stream); }
    }
    card.empty.hidden = p.vitals.length > 0;
  }

  function renderPatients(s) {
    const box = $("patients");
    const ids = new Set();
    s.patients.forEach((p, i) => {
      ids.add(p.id);
      let card = cards.get(p.id);
      if (!card) { card = patientCard(p); cards.set(p.id, card); }
      if (box.children[i] !== card.root) box.insertBefore(card.root, box.children[i] || null);
      renderPatient(card, p);
    });
    for (const [id, card] of cards) if (!ids.has(id)) { card.root.remove(); cards.delete(id); }
  }

  function cell(text, cls, field) {
    const td = el("td", cls, text);
    if (field) td.dataset.field = field;
    return td;
  }

  function renderDevices(s) {
    const rows = s.devices.map((d) => {
      const tr = el("tr");
      tr.dataset.device = d.id;
      const state = el("td");
      state.dataset.field = "state";
      state.append(el("span", "dot " + d.state), document.createTextNode(d.state));
      let battery = "—";
      if (d.battery) {
        battery = Math.round(d.battery.percent) + " %";
        if (d.battery.time_to_empty_s !== null) battery += " · empty in " + age(d.battery.time_to_empty_s);
      }
      let link = d.link_quality_pct === null ? "—" : d.link_quality_pct + " %";
      if (d.rssi_dbm !== null && d.rssi_dbm !== undefined) link += " · " + d.rssi_dbm + " dBm";
      link += " · " + d.parse_errors + " parse errors";
      const rate = d.rate_per_s === null ? "—" : d.rate_per_s.toFixed(1);
      const records = cell(rate, null, "rate");
      records.title = d.records + " records";
      records.dataset.records = d.records;
      tr.append(
        cell(d.id, null, "id"), cell(d.bed || d.patient, null, "bed"), cell(d.kind), state,
        cell(battery, null, "battery"), cell(link, null, "link"), records,
        cell(d.restarts + (d.crashes ? " (" + d.crashes + " crashes)" : ""), null, "restarts"),
        cell(d.last_seen_s === null ? "never" : ago(d.last_seen_s), null, "last-seen"),
        cell(d.state === "connected" ? "" : d.last_error, "err", "error"),
      );
      return tr;
    });
    document.querySelector("#devices tbody").replaceChildren(...rows);
  }

  function renderErrors(s) {
    const list = $("errors");
    if (!s.errors.length) {
      list.replaceChildren(el("li", "none", "none since the page started"));
      return;
    }
    list.replaceChildren(...s.errors.map((e) => {
      const li = el("li");
      li.append(
        el("span", "muted", new Date(e.ts_ns / 1e6).toLocaleTimeString()),
        el("span", "lvl-" + e.level, e.level),
        el("span", null, e.msg),
      );
      return li;
    }));
  }

  function render(s) {
    lastDoc = s;
    renderHeader(s);
    renderSummary(s);
    renderPatients(s);
    renderDevices(s);
    renderErrors(s);
    document.body.dataset.version = String((Number(document.body.dataset.version) || 0) + 1);
  }

  function follow() {
    const live = $("pill-live");
    const source = new EventSource("events");
    source.addEventListener("status", (ev) => {
      pill(live, "live", "ok");
      render(JSON.parse(ev.data));
    });
    source.onerror = () => pill(live, "reconnecting…", "warn");
  }

  window.addEventListener("resize", () => { if (lastDoc) renderPatients(lastDoc); });
  // a token given once in the address bar is now a cookie: take it out of sight
  if (location.search.includes("token=")) history.replaceState(null, "", location.pathname);
  fetch("api/status", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status))))
    .then(render)
    .catch((e) => { const n = $("note"); n.hidden = false; n.textContent = "cannot load status: " + e.message; })
    .finally(follow);
})();

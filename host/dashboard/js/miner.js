// One miner: live figures from `miner:<id>`, history charts (uPlot) over 1 h to 30 d from the
// history API, pools, boards, fans, errors, and the raw record.

import * as f from "./format.js";
import { api, act, flash } from "./api.js";

const RANGES = [
  ["1h", 3600e3],
  ["24h", 86400e3],
  ["7d", 7 * 86400e3],
  ["30d", 30 * 86400e3],
];

const CHARTS = [
  { title: "Hashrate", fmt: f.hashrate, series: [["hashrate_hs", "Hashrate", "#2f6fdb"], ["expected_hashrate_hs", "Expected", "#8c959f"]] },
  { title: "Temperature", fmt: f.celsius, series: [["temp_c", "Chip", "#d1242f"], ["vr_temp_c", "VR", "#bf8700"]] },
  { title: "Power", fmt: f.watts, series: [["power_w", "Power", "#8250df"]] },
  { title: "Fan", fmt: (v) => (v == null ? "—" : `${Math.round(v)} rpm`), series: [["fan_rpm", "Fastest fan", "#1a7f37"]] },
];

export class MinerView {
  constructor(live, alerts, id) {
    this.live = live;
    this.alerts = alerts;
    this.id = id;
    this.range = "1h";
    this.charts = [];
    window.solomonCharts = this.charts;
  }

  mount(root) {
    const id = f.esc(this.id);
    root.innerHTML = `
      <p><a href="#/">← Fleet</a></p>
      <h1 id="miner-title">${id}</h1>
      <p id="miner-sub" class="muted"></p>
      <section class="cards" id="miner-cards"></section>
      <div class="toolbar">
        <div role="group" aria-label="Range" id="ranges">${RANGES.map(([r]) => `<button type="button" data-range="${r}" aria-pressed="${r === this.range}">${r}</button>`).join("")}</div>
        <button type="button" id="mute-miner">Mute this miner 1 h</button>
        <button type="button" id="poll-now">Poll now</button>
      </div>
      <section class="charts" id="charts">${CHARTS.map((c, i) => `<figure class="chart"><figcaption>${c.title}</figcaption><div id="chart-${i}"></div></figure>`).join("")}</section>
      <section id="miner-alerts"></section>
      <section id="miner-detail"></section>
      <details><summary>Raw record (JSON)</summary><pre id="raw"></pre></details>`;
    this.root = root;
    root.querySelector("#ranges").addEventListener("click", (e) => {
      const r = e.target.dataset.range;
      if (!r) return;
      this.range = r;
      for (const b of root.querySelectorAll("#ranges button")) b.setAttribute("aria-pressed", b.dataset.range === r);
      this.loadCharts();
    });
    root.querySelector("#mute-miner").addEventListener("click", () =>
      act(() => api("POST", "/api/v1/mutes", { miner: this.id, minutes: 60, by: "dashboard" }), `Muted ${this.id} for 1 h`));
    root.querySelector("#poll-now").addEventListener("click", () =>
      act(() => api("POST", `/api/v1/miners/${encodeURIComponent(this.id)}/poll`), "Poll requested"));
    this.onMiner = (m) => {
      const snap = m.type === "snapshot" ? m.miner : m;
      if (snap && snap.id === this.id) this.show(snap);
      else if (m.type === "snapshot" && !snap) flash(`No record for ${this.id} yet.`, "info");
    };
    this.live.on("snapshot:miner", this.onMiner);
    this.live.on("miner", this.onMiner);
    this.live.subscribe(`miner:${this.id}`);
    this.unlistenAlerts = this.alerts.listen(() => this.renderAlerts());
    this.renderAlerts();
    api("GET", `/api/v1/miners/${encodeURIComponent(this.id)}`).then((v) => {
      if (v.config) {
        this.config = v.config;
        if (v.config.name) this.root.querySelector("#miner-title").textContent = v.config.name;
      }
    }).catch(() => {});
    this.resize = () => this.sizeCharts();
    window.addEventListener("resize", this.resize);
    this.loadCharts();
    // New points reach history as the miner is polled: refresh the short range live.
    this.timer = setInterval(() => { if (this.range === "1h") this.loadCharts(); }, 15000);
  }

  unmount() {
    this.live.unsubscribe(`miner:${this.id}`);
    const drop = (list, fn) => { const i = list?.indexOf(fn); if (i >= 0) list.splice(i, 1); };
    drop(this.live.handlers.get("snapshot:miner"), this.onMiner);
    drop(this.live.handlers.get("miner"), this.onMiner);
    this.unlistenAlerts?.();
    window.removeEventListener("resize", this.resize);
    clearInterval(this.timer);
    for (const c of this.charts) c.destroy();
    this.charts.length = 0;
  }

  show(snap) {
    const r = snap.record;
    this.record = r;
    const sub = [r.make, r.model, r.firmware_version && `firmware ${r.firmware_version}`, r.host, `driver ${r.driver}`].filter(Boolean).join(" · ");
    this.root.querySelector("#miner-sub").innerHTML = `<span class="badge st-${r.state}"><span class="dot"></span>${r.state}</span> ${f.esc(sub)}`;
    const card = (k, v, s = "") => `<div class="tile"><span class="k">${k}</span><span class="v">${v}</span><span class="sub">${s}</span></div>`;
    this.root.querySelector("#miner-cards").innerHTML = [
      card("Hashrate", f.hashrate(r.hashrate_hs), `expected ${f.hashrate(r.expected_hashrate_hs)}`),
      card("Temperature", f.celsius(r.temp_c), `VR ${f.celsius(r.vr_temp_c)}`),
      card("Power", f.watts(r.power_w), f.jth(r.efficiency_j_th)),
      card("Shares", f.count(r.shares_accepted), `${f.count(r.shares_rejected)} rejected`),
      card("Best difficulty", f.difficulty(r.best_diff), `session ${f.difficulty(r.best_session_diff)}`),
      card("Uptime", f.duration(r.uptime_s), `seen ${f.ago(r.ts_ms)}`),
    ].join("");
    const table = (title, head, rows) => rows.length
      ? `<h2>${title}</h2><div class="table-wrap"><table><thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join("")}</tr></thead><tbody>${rows.map((row) => `<tr>${row.map((c) => `<td>${f.esc(c)}</td>`).join("")}</tr>`).join("")}</tbody></table></div>`
      : "";
    this.root.querySelector("#miner-detail").innerHTML = [
      table("Pools", ["#", "URL", "User", "Active", "Accepted", "Rejected", "Difficulty"],
        (r.pools || []).map((p) => [p.index, p.url, p.user ?? "—", p.active ? "yes" : "no", f.count(p.accepted), f.count(p.rejected), f.difficulty(p.difficulty)])),
      table("Boards", ["#", "Hashrate", "Temp", "Chip temp", "Chips"],
        (r.boards || []).map((b) => [b.index, f.hashrate(b.hashrate_hs), f.celsius(b.temp_c), f.celsius(b.chip_temp_c), `${b.chips ?? "—"} / ${b.expected_chips ?? "—"}`])),
      table("Fans", ["#", "RPM", "%"], (r.fans || []).map((x) => [x.index, x.rpm ?? "—", x.pct ?? "—"])),
      table("Errors", ["Code", "Message"], (r.errors || []).map((e) => [e.code ?? "", e.message ?? JSON.stringify(e)])),
    ].join("");
    this.root.querySelector("#raw").textContent = JSON.stringify(r, null, 2);
  }

  renderAlerts() {
    const mine = this.alerts.list().filter((a) => a.miner === this.id && a.firing);
    this.root.querySelector("#miner-alerts").innerHTML = mine.length
      ? `<h2>Firing alerts</h2><ul class="alerts-inline">${mine.map((a) => `<li class="sev-${f.esc(a.severity)}">${f.esc(a.rule)}: ${f.esc(a.message)}${a.muted_until ? " (muted)" : ""}</li>`).join("")}</ul>`
      : "";
  }

  async loadCharts() {
    const span = RANGES.find(([r]) => r === this.range)[1];
    const to = Date.now();
    const from = to - span;
    const step = Math.max(1000, Math.floor(span / 300));
    const gen = (this.gen = (this.gen || 0) + 1);
    const fetchOne = (metric) =>
      api("GET", `/api/v1/miners/${encodeURIComponent(this.id)}/history?metric=${metric}&from=${from}&to=${to}&step=${step}`)
        .then((h) => h.points || [])
        .catch(() => []);
    const results = await Promise.all(CHARTS.map((c) => Promise.all(c.series.map(([m]) => fetchOne(m)))));
    if (gen !== this.gen || !this.root.isConnected) return;
    results.forEach((perSeries, i) => this.drawChart(i, perSeries, from, to));
  }

  drawChart(i, perSeries, from, to) {
    const spec = CHARTS[i];
    const tables = perSeries.map((pts) => [pts.map((p) => p.ts_ms / 1000), pts.map((p) => (Number.isFinite(p.avg) ? p.avg : null))]);
    const data = tables.some((t) => t[0].length) ? window.uPlot.join(tables) : [[], ...tables.map(() => [])];
    const el = this.root.querySelector(`#chart-${i}`);
    const opts = {
      width: this.chartWidth(el),
      height: 180,
      scales: { x: { time: true, range: () => [from / 1000, to / 1000] } },
      series: [{}, ...spec.series.map(([, label, stroke]) => ({ label, stroke, width: 1.5, spanGaps: false, value: (u, v) => spec.fmt(v) }))],
      axes: [{}, { values: (u, vals) => vals.map((v) => spec.fmt(v)), size: 80 }],
      legend: { live: true },
    };
    if (this.charts[i]) this.charts[i].destroy();
    el.innerHTML = "";
    this.charts[i] = new window.uPlot(opts, data, el);
    this.charts[i].pointCount = data[0].length;
  }

  chartWidth(el) {
    return Math.max(260, Math.floor((el.parentElement?.clientWidth || 600) - 8));
  }

  sizeCharts() {
    this.charts.forEach((c, i) => c && c.setSize({ width: this.chartWidth(this.root.querySelector(`#chart-${i}`)), height: 180 }));
  }
}

// The fleet view: totals on top, then one row per miner, sortable and filterable, updated in
// place as rows arrive (only cells whose text changed are written). Only the rows in view
// (plus a margin) are in the DOM: with 1,000 miners, a table of 1,000 rows costs the browser
// tens of ms of layout for every batch of changes, one of 60 rows well under one.

import * as f from "./format.js";

const COLUMNS = [
  { key: "state", w: 8, label: "State", text: (r) => r.state, sort: (r) => STATE_ORDER[r.state] ?? 9 },
  { key: "name", w: 13, label: "Miner", text: (r) => r.name || r.id, sort: (r) => (r.name || r.id).toLowerCase() },
  { key: "model", w: 12, label: "Make / model", text: (r) => [r.make, r.model].filter(Boolean).join(" "), sort: (r) => `${r.make} ${r.model || ""}`.toLowerCase(), opt: true },
  { key: "hashrate_hs", w: 8, label: "Hashrate", text: (r) => f.hashrate(r.hashrate_hs), num: true },
  { key: "expected_hashrate_hs", w: 8, label: "Expected", text: (r) => f.hashrate(r.expected_hashrate_hs), num: true, opt: true },
  { key: "temp_c", w: 6, label: "Temp", text: (r) => f.celsius(r.temp_c), num: true },
  { key: "power_w", w: 6, label: "Power", text: (r) => f.watts(r.power_w), num: true, opt: true },
  { key: "efficiency_j_th", w: 7, label: "Efficiency", text: (r) => f.jth(r.efficiency_j_th), num: true, opt: true },
  { key: "best_diff", w: 7, label: "Best diff", text: (r) => f.difficulty(r.best_diff), num: true },
  { key: "shares_accepted", w: 10, label: "Shares acc / rej", text: (r) => `${f.count(r.shares_accepted)} / ${f.count(r.shares_rejected)}`, num: true, opt: true },
  { key: "uptime_s", w: 7, label: "Uptime", text: (r) => f.duration(r.uptime_s), num: true, opt: true },
  { key: "ts_ms", w: 8, label: "Last seen", text: (r) => f.ago(r.ts_ms), num: true, opt: true },
];

const NATURAL = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
const STATE_ORDER = { faulted: 0, offline: 1, idle: 2, hashing: 3 };

export class FleetView {
  constructor(store) {
    this.store = store;
    this.sortKey = "state";
    this.sortDir = 1;
    this.query = "";
    this.stateFilter = "";
    this.rowEls = new Map();
    this.placed = new Map();
    this.order = [];
    this.lastSort = 0;
  }

  mount(root) {
    root.innerHTML = `
      <section class="totals" id="totals" aria-label="Fleet totals"></section>
      <div class="toolbar">
        <input id="q" type="search" placeholder="Filter: name, model, label…" aria-label="Filter miners">
        <select id="state-filter" aria-label="State">
          <option value="">All states</option><option>hashing</option><option>idle</option>
          <option>faulted</option><option>offline</option>
        </select>
        <span id="shown" class="muted"></span>
      </div>
      <div class="table-wrap fleet-wrap" id="fleet-wrap">
        <table class="fleet" id="fleet">
          <thead><tr>${COLUMNS.map((c) => `<th scope="col" class="${c.num ? "num" : ""} ${c.opt ? "opt" : ""}" style="width: ${c.w}%" data-key="${c.key}"><button type="button">${c.label}</button></th>`).join("")}</tr></thead>
          <tbody id="fleet-body"></tbody>
        </table>
      </div>
      <p id="fleet-empty" class="muted" hidden>No miner yet. Add one in the config or with <code>POST /api/v1/miners</code>.</p>`;
    this.root = root;
    this.body = root.querySelector("#fleet-body");
    this.wrap = root.querySelector("#fleet-wrap");
    this.totals = root.querySelector("#totals");
    this.padTop = spacer();
    this.padBottom = spacer();
    this.body.append(this.padTop, this.padBottom);
    root.querySelector("#q").value = this.query;
    root.querySelector("#state-filter").value = this.stateFilter;
    root.querySelector("#q").addEventListener("input", (e) => {
      this.query = e.target.value.trim().toLowerCase();
      this.reorder();
    });
    root.querySelector("#state-filter").addEventListener("change", (e) => {
      this.stateFilter = e.target.value;
      this.reorder();
    });
    root.querySelector("thead").addEventListener("click", (e) => {
      const th = e.target.closest("th");
      if (!th) return;
      const key = th.dataset.key;
      this.sortDir = this.sortKey === key ? -this.sortDir : COLUMNS.find((c) => c.key === key).num ? -1 : 1;
      this.sortKey = key;
      this.reorder();
    });
    const open = (tr) => {
      if (tr && tr.dataset.id) location.hash = `#/miner/${encodeURIComponent(tr.dataset.id)}`;
    };
    this.body.addEventListener("click", (e) => open(e.target.closest("tr")));
    this.body.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open(e.target.closest("tr"));
    });
    this.wrap.addEventListener("scroll", () => {
      if (!this.scrollQueued) {
        this.scrollQueued = true;
        requestAnimationFrame(() => {
          this.scrollQueued = false;
          this.renderWindow();
        });
      }
    }, { passive: true });
    this.resize = () => this.renderWindow();
    window.addEventListener("resize", this.resize);
    this.rowEls = new Map();
    this.unlisten = this.store.listen((ids, reset) => this.render(ids, reset));
    this.render(new Set(), true);
    this.timer = setInterval(() => this.tick(), 5000);
  }

  unmount() {
    this.unlisten?.();
    clearInterval(this.timer);
    window.removeEventListener("resize", this.resize);
  }

  sortValue(r) {
    const col = COLUMNS.find((c) => c.key === this.sortKey);
    return (col.sort || ((x) => x[col.key]))(r);
  }

  render(ids, reset) {
    let reorder = reset;
    for (const id of ids) {
      const r = this.store.get(id);
      const el = this.rowEls.get(id);
      const seen = this.placed.get(id);
      if (!r) {
        el?.tr.remove();
        this.rowEls.delete(id);
        reorder = true;
        continue;
      }
      // The order changes only if a sort value does, or a state under a state filter.
      if (!seen || seen.v !== this.sortValue(r) || (this.stateFilter && seen.state !== r.state)) reorder = true;
      if (!el) continue;
      // Rows out of view are brought up to date when they scroll in.
      if (el.tr.isConnected) this.renderRow(el, r);
      else el.stale = true;
    }
    if (reorder) {
      // Re-sort on live values at most every 2 s: rows jumping on every update are unreadable.
      const live = this.sortKey !== "state" && this.sortKey !== "name";
      if (reset || !live || performance.now() - this.lastSort > 2000) this.reorder();
    }
    this.renderTotals();
    this.root.querySelector("#fleet-empty").hidden = this.store.rows.size > 0 || !this.store.loaded;
  }

  /** The row element of `r`, made on first use. */
  rowEl(r) {
    let el = this.rowEls.get(r.id);
    if (el) return el;
    const tr = document.createElement("tr");
    tr.dataset.id = r.id;
    tr.tabIndex = 0;
    const cells = COLUMNS.map((c) => {
      const td = document.createElement("td");
      td.className = `${c.num ? "num" : ""} ${c.opt ? "opt" : ""}`;
      tr.appendChild(td);
      return td;
    });
    cells[0].innerHTML = `<span class="dot"></span><span class="word"></span>`;
    cells[1].title = r.id;
    el = { tr, cells, texts: new Array(COLUMNS.length).fill(null), state: null, stale: true };
    this.rowEls.set(r.id, el);
    return el;
  }

  renderRow(el, r) {
    el.stale = false;
    if (el.state !== r.state) {
      el.tr.className = `st-${r.state}`;
      el.state = r.state;
    }
    for (let i = 0; i < COLUMNS.length; i++) {
      const t = COLUMNS[i].text(r);
      if (el.texts[i] === t) continue;
      el.texts[i] = t;
      if (i === 0) el.cells[0].lastChild.textContent = t;
      else el.cells[i].textContent = t;
    }
  }

  matches(r) {
    if (this.stateFilter && r.state !== this.stateFilter) return false;
    if (!this.query) return true;
    const labels = r.labels ? Object.entries(r.labels).map(([k, v]) => `${k}:${v}`).join(" ") : "";
    return `${r.id} ${r.name || ""} ${r.make} ${r.model || ""} ${labels}`.toLowerCase().includes(this.query);
  }

  /** Filters and sorts every row into `this.order`, then redraws the rows in view. */
  reorder() {
    this.lastSort = performance.now();
    const rows = this.store.all().filter((r) => this.matches(r));
    const keyed = rows.map((r) => [this.sortValue(r), r]);
    keyed.sort(([x, a], [y, b]) => {
      // Unreported values last, whatever the direction; names in natural order ("sim 2"
      // before "sim 10"); ties by id.
      if (x == null && y == null) return NATURAL.compare(a.id, b.id);
      if (x == null) return 1;
      if (y == null) return -1;
      const c = typeof x === "string" ? NATURAL.compare(x, y) : x < y ? -1 : x > y ? 1 : 0;
      return c ? c * this.sortDir : NATURAL.compare(a.id, b.id);
    });
    this.order = keyed.map(([, r]) => r.id);
    // What each row's place was decided on.
    this.placed = new Map(this.store.all().map((r) => [r.id, { v: this.sortValue(r), state: r.state }]));
    for (const th of this.root.querySelectorAll("thead th")) {
      th.setAttribute("aria-sort", th.dataset.key === this.sortKey ? (this.sortDir > 0 ? "ascending" : "descending") : "none");
    }
    this.root.querySelector("#fleet").setAttribute("aria-rowcount", String(this.order.length + 1));
    this.renderWindow();
    this.renderTotals();
  }

  /** Puts the rows in view (and a margin) in the table, spacers standing in for the rest. */
  renderWindow() {
    const rowH = this.rowHeight || ROW_HEIGHT;
    const view = this.wrap.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.wrap.scrollTop / rowH) - OVERSCAN);
    const last = Math.min(this.order.length, first + Math.ceil(view / rowH) + 2 * OVERSCAN);
    const wanted = [];
    for (let i = first; i < last; i++) {
      const r = this.store.get(this.order[i]);
      if (!r) continue;
      const el = this.rowEl(r);
      if (el.stale) this.renderRow(el, r);
      el.tr.setAttribute("aria-rowindex", String(i + 2));
      wanted.push(el.tr);
    }
    const keep = new Set(wanted);
    for (const tr of [...this.body.children]) {
      if (tr !== this.padTop && tr !== this.padBottom && !keep.has(tr)) tr.remove();
    }
    let prev = this.padTop;
    for (const tr of wanted) {
      if (prev.nextSibling !== tr) this.body.insertBefore(tr, prev.nextSibling);
      prev = tr;
    }
    setHeight(this.padTop, first * rowH);
    setHeight(this.padBottom, (this.order.length - last) * rowH);
    // Measured once from a real row, so the spacers match the theme's row height.
    if (!this.rowHeight && wanted.length) {
      const h = wanted[0].getBoundingClientRect().height;
      if (h > 0) this.rowHeight = h;
    }
  }

  renderTotals() {
    let hash = 0, expected = 0, power = 0, effPower = 0, effHash = 0, blocks = 0;
    let best = null;
    const by = { hashing: 0, idle: 0, faulted: 0, offline: 0 };
    for (const r of this.store.rows.values()) {
      by[r.state] = (by[r.state] || 0) + 1;
      const live = r.state !== "offline";
      if (live && r.hashrate_hs > 0) hash += r.hashrate_hs;
      if (r.expected_hashrate_hs > 0) expected += r.expected_hashrate_hs;
      if (live && r.power_w > 0) {
        power += r.power_w;
        if (r.hashrate_hs > 0) {
          effPower += r.power_w;
          effHash += r.hashrate_hs;
        }
      }
      if (r.best_diff != null && (best == null || r.best_diff > best)) best = r.best_diff;
      blocks += r.blocks_found || 0;
    }
    const total = this.store.rows.size;
    const html = `
      <div class="tile"><span class="k">Miners</span><span class="v">${total}</span>
        <span class="states">${Object.entries(by).map(([s, n]) => `<span class="st-${s}"><span class="dot"></span>${n} ${s}</span>`).join(" ")}</span></div>
      <div class="tile"><span class="k">Hashrate</span><span class="v" id="total-hashrate">${f.hashrate(hash)}</span><span class="sub">of ${f.hashrate(expected)} expected</span></div>
      <div class="tile"><span class="k">Power</span><span class="v">${f.watts(power)}</span><span class="sub">${effHash > 0 ? f.jth(effPower / (effHash / 1e12)) : "—"}</span></div>
      <div class="tile"><span class="k">Best difficulty</span><span class="v">${f.difficulty(best)}</span><span class="sub">${blocks} block${blocks === 1 ? "" : "s"} found</span></div>`;
    if (html !== this.totalsHtml) {
      this.totals.innerHTML = html;
      this.totalsHtml = html;
    }
    const s = this.root.querySelector("#shown");
    const shown = this.order.length;
    const text = shown === total ? `${total} miners` : `${shown} of ${total} miners shown`;
    if (s.textContent !== text) s.textContent = text;
  }

  /** "Last seen" ages without any new data. */
  tick() {
    const i = COLUMNS.findIndex((c) => c.key === "ts_ms");
    for (const [id, el] of this.rowEls) {
      const r = this.store.get(id);
      if (!r || !el.tr.isConnected) continue;
      const t = COLUMNS[i].text(r);
      if (el.texts[i] !== t) {
        el.texts[i] = t;
        el.cells[i].textContent = t;
      }
    }
  }
}

const ROW_HEIGHT = 33;
const OVERSCAN = 10;

function spacer() {
  const tr = document.createElement("tr");
  tr.className = "spacer";
  tr.setAttribute("aria-hidden", "true");
  const td = document.createElement("td");
  td.colSpan = COLUMNS.length;
  tr.appendChild(td);
  return tr;
}

function setHeight(tr, px) {
  const v = `${px}px`;
  if (tr.firstChild.style.height !== v) tr.firstChild.style.height = v;
  tr.hidden = px === 0;
}

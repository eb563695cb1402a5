// The alerts view: firing alerts with acknowledge and mute, the recent resolved ones, the
// mutes in force (with unmute), and a form to mute a miner or a rule for a while.

import * as f from "./format.js";
import { api, act } from "./api.js";

const DURATIONS = [[60, "1 h"], [240, "4 h"], [1440, "24 h"], [10080, "7 d"]];

export class AlertsView {
  constructor(store) {
    this.store = store;
  }

  mount(root) {
    root.innerHTML = `
      <h1>Alerts</h1>
      <section><h2>Firing</h2><div id="firing"></div></section>
      <section><h2>Mutes</h2><div id="mutes"></div>
        <form id="mute-form" class="toolbar" aria-label="Mute">
          <input name="miner" placeholder="miner id (any)" aria-label="Miner id">
          <input name="rule" placeholder="rule (any)" aria-label="Rule">
          <select name="minutes" aria-label="For">${DURATIONS.map(([m, l]) => `<option value="${m}">${l}</option>`).join("")}</select>
          <input name="reason" placeholder="reason (optional)" aria-label="Reason">
          <button type="submit">Mute</button>
        </form>
      </section>
      <section><h2>Recently resolved</h2><div id="resolved"></div></section>`;
    this.root = root;
    root.addEventListener("click", (e) => this.onClick(e));
    root.querySelector("#mute-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const fd = new FormData(e.target);
      const body = { minutes: Number(fd.get("minutes")), by: "dashboard" };
      for (const k of ["miner", "rule", "reason"]) if (fd.get(k)) body[k] = String(fd.get(k)).trim();
      act(() => api("POST", "/api/v1/mutes", body), "Muted");
    });
    this.unlisten = this.store.listen(() => this.render());
    this.render();
  }

  unmount() {
    this.unlisten?.();
  }

  onClick(e) {
    const b = e.target.closest("button[data-act]");
    if (!b) return;
    const { rule, miner, key, id } = b.dataset;
    if (b.dataset.act === "ack") {
      act(() => api("POST", "/api/v1/alerts/ack", { rule, miner, key, by: "dashboard" }), "Acknowledged");
    } else if (b.dataset.act === "mute") {
      act(() => api("POST", "/api/v1/mutes", { rule, miner, minutes: 60, by: "dashboard" }), `Muted ${rule} on ${miner} for 1 h`);
    } else if (b.dataset.act === "unmute") {
      act(() => api("DELETE", `/api/v1/mutes/${encodeURIComponent(id)}`), "Mute lifted");
    }
  }

  render() {
    const all = this.store.list();
    const firing = all.filter((a) => a.firing);
    const resolved = all.filter((a) => !a.firing).slice(0, 50);
    const data = (a) => `data-rule="${f.esc(a.rule)}" data-miner="${f.esc(a.miner)}" data-key="${f.esc(a.key)}"`;
    const row = (a, actions) => `<tr class="sev-${f.esc(a.severity)}${a.muted_until ? " muted-row" : ""}">
        <td><span class="sev">${f.esc(a.severity)}</span></td>
        <td>${f.esc(a.rule)}</td>
        <td><a href="#/miner/${encodeURIComponent(a.miner)}">${f.esc(a.miner)}</a></td>
        <td>${f.esc(a.message)}</td>
        <td>${f.ago(a.firing ? a.since_ms : a.updated_ms)}</td>
        <td>${a.acked_by ? `acked by ${f.esc(a.acked_by)}` : ""}${a.muted_until ? ` muted until ${f.when(a.muted_until)}` : ""}</td>
        ${actions ? `<td class="actions"><button type="button" data-act="ack" ${data(a)}>Ack</button> <button type="button" data-act="mute" ${data(a)}>Mute 1 h</button></td>` : ""}
      </tr>`;
    const table = (rows, actions) => `<div class="table-wrap"><table class="alerts"><thead><tr>
        <th scope="col">Severity</th><th scope="col">Rule</th><th scope="col">Miner</th><th scope="col">Message</th>
        <th scope="col">${actions ? "Since" : "Resolved"}</th><th scope="col">Status</th>${actions ? `<th scope="col">Actions</th>` : ""}
      </tr></thead><tbody>${rows.map((a) => row(a, actions)).join("")}</tbody></table></div>`;
    this.root.querySelector("#firing").innerHTML = firing.length ? table(firing, true) : `<p class="muted">Nothing is firing.</p>`;
    this.root.querySelector("#resolved").innerHTML = resolved.length ? table(resolved, false) : `<p class="muted">None yet.</p>`;
    const mutes = this.store.mutes;
    this.root.querySelector("#mutes").innerHTML = mutes.length
      ? `<div class="table-wrap"><table class="mutes"><thead><tr><th scope="col">Miner</th><th scope="col">Rule</th><th scope="col">Until</th><th scope="col">By</th><th scope="col">Reason</th><th scope="col"></th></tr></thead><tbody>
        ${mutes.map((m) => `<tr><td>${f.esc(m.miner ?? "any")}</td><td>${f.esc(m.rule ?? "any")}</td><td>${f.when(m.until_ms)}</td><td>${f.esc(m.by)}</td><td>${f.esc(m.reason ?? "")}</td>
          <td><button type="button" data-act="unmute" data-id="${m.id}">Unmute</button></td></tr>`).join("")}</tbody></table></div>`
      : `<p class="muted">No mute in force.</p>`;
  }
}

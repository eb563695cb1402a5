// Solo insight: the fleet's odds of a block at the current network difficulty, blocks found,
// and the best-difficulty leaderboard (per miner, all time, as the miners report it).

import * as f from "./format.js";
import { api } from "./api.js";

export class SoloView {
  constructor(store) {
    this.store = store;
  }

  mount(root) {
    root.innerHTML = `
      <h1>Solo insight</h1>
      <section class="cards" id="odds"><p class="muted">Loading…</p></section>
      <h2>Best difficulty leaderboard</h2>
      <div class="table-wrap"><table class="leaderboard"><thead><tr>
        <th scope="col">#</th><th scope="col">Miner</th><th scope="col">Make / model</th>
        <th scope="col" class="num">Best (all time)</th><th scope="col" class="num">Of network</th>
        <th scope="col" class="num">Best since boot</th><th scope="col" class="num">Blocks</th>
      </tr></thead><tbody id="board"></tbody></table></div>`;
    this.root = root;
    this.unlisten = this.store.listen(() => this.renderBoard());
    this.renderBoard();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), 10000);
  }

  unmount() {
    this.unlisten?.();
    clearInterval(this.timer);
  }

  async refresh() {
    let s;
    try {
      s = await api("GET", "/api/v1/fleet");
    } catch (e) {
      this.root.querySelector("#odds").innerHTML = `<p class="muted">Fleet summary unavailable: ${f.esc(e.message)}</p>`;
      return;
    }
    if (!this.root.isConnected) return;
    this.network = s.network_difficulty;
    const t = s.expected_block_s;
    // Blocks arrive as a Poisson process: P(at least one in T) = 1 - exp(-T / expected).
    const odds = (secs) => (t > 0 ? f.pct(100 * (1 - Math.exp(-secs / t))) : "—");
    const card = (k, v, sub = "") => `<div class="tile"><span class="k">${k}</span><span class="v">${v}</span><span class="sub">${sub}</span></div>`;
    this.root.querySelector("#odds").innerHTML = [
      card("Expected time to a block", t > 0 ? f.duration(t) : "—", `at ${f.hashrate(s.hashrate_hs)}`),
      card("Chance today", odds(86400), `this year ${odds(365.25 * 86400)}`),
      card("Network difficulty", f.difficulty(s.network_difficulty), ""),
      card("Blocks found", f.count(s.blocks_found), s.best_diff_miner ? `best share by ${f.esc(s.best_diff_miner)}` : ""),
    ].join("");
    this.renderBoard();
  }

  renderBoard() {
    const rows = this.store.all().filter((r) => r.best_diff != null).sort((a, b) => b.best_diff - a.best_diff).slice(0, 100);
    const html = rows.map((r, i) => `<tr class="st-${r.state}">
        <td>${i + 1}</td><td><a href="#/miner/${encodeURIComponent(r.id)}">${f.esc(r.name || r.id)}</a></td>
        <td>${f.esc([r.make, r.model].filter(Boolean).join(" "))}</td>
        <td class="num">${f.difficulty(r.best_diff)}</td>
        <td class="num">${this.network > 0 ? f.pct((100 * r.best_diff) / this.network) : "—"}</td>
        <td class="num">${f.difficulty(r.best_session_diff)}</td>
        <td class="num">${f.count(r.blocks_found ?? 0)}</td></tr>`).join("");
    // Compared as built, not as the DOM serializes it: the board is rebuilt only on change.
    if (html === this.boardHtml) return;
    this.boardHtml = html;
    this.root.querySelector("#board").innerHTML = html;
  }
}

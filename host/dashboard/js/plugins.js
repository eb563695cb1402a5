// The plugins view: every loaded driver and rule, its version and contract, and its health.

import * as f from "./format.js";
import { api } from "./api.js";

export class PluginsView {
  constructor(live) {
    this.live = live;
    this.plugins = [];
  }

  mount(root) {
    root.innerHTML = `<h1>Plugins</h1><div id="plugin-failures"></div><div id="plugins"><p class="muted">Loading…</p></div>
      <p class="muted">Drop a <code>.wasm</code> into a plugin folder and it is loaded within a second; a file that does
      not load is listed here and the version in service keeps running.</p>`;
    this.root = root;
    this.onPlugins = (m) => {
      this.plugins = m.plugins || [];
      this.failures = m.failures || [];
      this.render();
    };
    this.live.on("snapshot:plugins", this.onPlugins);
    this.live.on("plugins", this.onPlugins);
    this.live.subscribe("plugins");
    // The topic announces loads and unloads; call counts and errors move on their own.
    this.timer = setInterval(() => api("GET", "/api/v1/plugins").then(this.onPlugins).catch(() => {}), 5000);
  }

  unmount() {
    this.live.unsubscribe("plugins");
    clearInterval(this.timer);
    for (const t of ["snapshot:plugins", "plugins"]) {
      const list = this.live.handlers.get(t);
      const i = list?.indexOf(this.onPlugins);
      if (i >= 0) list.splice(i, 1);
    }
  }

  render() {
    const failed = this.failures || [];
    this.root.querySelector("#plugin-failures").innerHTML = failed.length
      ? `<h2>Rejected files</h2><div class="table-wrap"><table class="plugins"><thead><tr><th scope="col">File</th><th scope="col">Error</th><th scope="col">When</th></tr></thead><tbody>
        ${failed.map((x) => `<tr class="has-error"><td><code>${f.esc(x.file)}</code></td><td>${f.esc(x.error)}</td><td>${f.ago(x.ts_ms)}</td></tr>`).join("")}</tbody></table></div><h2>In service</h2>`
      : "";
    const rows = this.plugins.map(({ plugin: p, stats: s, file }) => `<tr class="${s.last_error ? "has-error" : ""}">
        <td><strong>${f.esc(p.name)}</strong><br><span class="muted">${f.esc(p.description)}</span>${file ? `<br><code class="muted">${f.esc(file)}</code>` : `<br><span class="muted">built in</span>`}</td>
        <td>${f.esc(p.version)}</td>
        <td>${f.esc(p.world)}</td>
        <td>${f.esc(p.api_version)}</td>
        <td class="num">${f.count(s.calls)}</td>
        <td class="num">${f.count(s.traps)} / ${f.count(s.timeouts)}</td>
        <td class="num">${f.count(s.restarts)}</td>
        <td>${s.last_error ? f.esc(s.last_error) : "—"}</td>
        <td>${f.ago(p.loaded_ms)}<br><span class="muted">${p.from_cache ? "from cache" : `compiled in ${Math.round(p.compile_ms)} ms`}</span></td>
        <td><code title="${f.esc(p.sha256)}">${f.esc(String(p.sha256).slice(0, 12))}</code></td>
      </tr>`).join("");
    this.root.querySelector("#plugins").innerHTML = `<div class="table-wrap"><table class="plugins"><thead><tr>
        <th scope="col">Plugin</th><th scope="col">Version</th><th scope="col">World</th><th scope="col">Contract</th>
        <th scope="col" class="num">Calls</th><th scope="col" class="num">Traps / timeouts</th><th scope="col" class="num">Restarts</th>
        <th scope="col">Last error</th><th scope="col">Last (re)load</th><th scope="col">SHA-256</th>
      </tr></thead><tbody>${rows}</tbody></table></div>`;
  }
}

// The dashboard's entry: one WebSocket, the fleet and alert stores that live as long as the
// page, a hash router over the views, the token field, and the "block found" banner.

import { Live } from "./live.js";
import { FleetStore } from "./fleet-store.js";
import { AlertStore } from "./alerts-store.js";
import { FleetView } from "./fleet.js";
import { MinerView } from "./miner.js";
import { AlertsView } from "./alerts.js";
import { PluginsView } from "./plugins.js";
import { SoloView } from "./solo.js";
import { token, setToken } from "./api.js";

// `?token=…` in the address (as `solomon demo` prints it) is kept, then removed from the bar.
const params = new URLSearchParams(location.search);
if (params.has("token")) {
  setToken(params.get("token"));
  history.replaceState(null, "", location.pathname + location.hash);
}

const live = new Live();
const fleet = new FleetStore(live);
const alerts = new AlertStore(live);
const fleetView = new FleetView(fleet);

const linkEl = document.getElementById("link");
live.status = (s) => {
  linkEl.textContent = s === "live" ? "● live" : s === "offline" ? "● reconnecting…" : "● connecting…";
  linkEl.className = `link ${s}`;
};

const tokenEl = document.getElementById("token");
tokenEl.value = token();
tokenEl.addEventListener("change", () => {
  setToken(tokenEl.value.trim());
  live.reconnect();
});

// A block is the moment a solo miner waits years for: a banner that stays until dismissed.
const banner = document.getElementById("block-banner");
function blockFound(who) {
  document.getElementById("block-text").textContent = `${who} found a block. Check your wallet and the pool's payout.`;
  banner.hidden = false;
  localStorage.setItem("solomon.block", who);
}
fleet.onBlock = (r) => blockFound(r.name || r.id);
alerts.onFired = (a) => {
  if (a.rule === "rule-block-found") blockFound(fleet.get(a.miner)?.name || a.miner);
};
document.getElementById("block-dismiss").addEventListener("click", () => {
  banner.hidden = true;
  localStorage.removeItem("solomon.block");
});
if (localStorage.getItem("solomon.block")) blockFound(localStorage.getItem("solomon.block"));

const firingEl = document.getElementById("firing-count");
alerts.listen(() => {
  const n = alerts.firingCount();
  firingEl.hidden = n === 0;
  firingEl.textContent = String(n);
});

const root = document.getElementById("view");
let current = null;

function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, ...rest] = hash.split("/");
  let view;
  if (name === "miner" && rest.length) view = new MinerView(live, alerts, decodeURIComponent(rest.join("/")));
  else if (name === "alerts") view = new AlertsView(alerts);
  else if (name === "plugins") view = new PluginsView(live);
  else if (name === "solo") view = new SoloView(fleet);
  else view = fleetView;
  current?.unmount();
  current = view;
  root.innerHTML = "";
  view.mount(root);
  const active = name === "miner" || !name ? "fleet" : name;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.getElementById("flash").hidden = true;
}

window.addEventListener("hashchange", route);
// uPlot is a deferred classic script: it has run before this module (modules are deferred
// too, and run in order), so charts can be drawn from the first route.
route();
live.connect();

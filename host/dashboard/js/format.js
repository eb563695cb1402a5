// Number formatting: every unit the record uses (H/s, °C, W, J/TH, difficulty) shown with an
// automatic prefix, and "—" for a value the miner did not report (never a misleading 0).

const DASH = "—";

const PREFIXES = [
  [1e18, "E"], [1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"],
];

function finite(v) {
  return typeof v === "number" && Number.isFinite(v);
}

/** 1.23e12 -> "1.23 T" (three significant digits). */
export function si(v, unit = "") {
  if (!finite(v)) return DASH;
  const a = Math.abs(v);
  for (const [f, p] of PREFIXES) {
    if (a >= f) return `${sig(v / f)} ${p}${unit}`;
  }
  return `${sig(v)}${unit ? " " + unit : ""}`;
}

function sig(x) {
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** Hashrate in H/s, shown as GH/s, TH/s, PH/s. */
export const hashrate = (hs) => si(hs, "H/s");
/** Difficulty, e.g. "4.29 G". */
export const difficulty = (d) => si(d);
export const watts = (w) => (finite(w) ? `${w >= 1000 ? (w / 1000).toFixed(2) + " kW" : w.toFixed(0) + " W"}` : DASH);
export const celsius = (c) => (finite(c) ? `${c.toFixed(1)} °C` : DASH);
export const jth = (e) => (finite(e) ? `${e.toFixed(1)} J/TH` : DASH);
export const count = (n) => (finite(n) ? n.toLocaleString("en-US") : DASH);
export const pct = (p) => (finite(p) ? `${p < 0.1 && p > 0 ? p.toPrecision(2) : p.toFixed(1)} %` : DASH);

/** Seconds -> "3 d 4 h", "12 min", "45 s". */
export function duration(s) {
  if (!finite(s) || s < 0) return DASH;
  const units = [[365.25 * 86400, "y"], [86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
  for (let i = 0; i < units.length; i++) {
    const [f, u] = units[i];
    if (s >= f || f === 1) {
      const whole = Math.floor(s / f);
      if (u === "y" && whole >= 1000) return `${si(s / f)} years`;
      const next = units[i + 1];
      const rest = next ? Math.floor((s - whole * f) / next[0]) : 0;
      return rest && whole < 10 ? `${whole} ${u} ${rest} ${next[1]}` : `${whole} ${u}`;
    }
  }
  return DASH;
}

/** Unix ms -> "12 s ago". */
export function ago(ms, now = Date.now()) {
  if (!finite(ms) || ms <= 0) return DASH;
  const s = Math.max(0, (now - ms) / 1000);
  return s < 2 ? "now" : `${duration(s)} ago`;
}

/** Unix ms -> local date and time. */
export function when(ms) {
  if (!finite(ms) || ms <= 0) return DASH;
  return new Date(ms).toLocaleString();
}

/** Escapes text for innerHTML templates. */
export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

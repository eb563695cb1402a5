// Every alert and the mutes in force, kept current from the `alerts` topic.

const key = (a) => `${a.rule}\u0000${a.miner}\u0000${a.key}`;

export class AlertStore {
  constructor(live) {
    this.alerts = new Map();
    this.mutes = [];
    this.listeners = new Set();
    this.onFired = () => {};
    live.on("snapshot:alerts", (m) => {
      this.alerts = new Map((m.alerts || []).map((a) => [key(a), a]));
      this.mutes = m.mutes || [];
      this.changed();
    });
    live.on("alert", (m) => {
      const old = this.alerts.get(key(m.alert));
      this.alerts.set(key(m.alert), m.alert);
      if (m.alert.firing && !(old && old.firing)) this.onFired(m.alert);
      this.changed();
    });
    live.on("mutes", (m) => {
      this.mutes = m.mutes || [];
      // Whether each alert is muted follows from the mutes: recompute here as the daemon does.
      const now = Date.now();
      for (const a of this.alerts.values()) {
        const until = this.mutes
          .filter((x) => x.until_ms > now && (x.rule == null || x.rule === a.rule) && (x.miner == null || x.miner === a.miner))
          .reduce((m, x) => Math.max(m, x.until_ms), 0);
        if (until) a.muted_until = until;
        else delete a.muted_until;
      }
      this.changed();
    });
    live.subscribe("alerts");
  }

  listen(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    for (const fn of this.listeners) fn();
  }

  /** Firing first, then newest first. */
  list() {
    return [...this.alerts.values()].sort((a, b) => (b.firing - a.firing) || (b.updated_ms - a.updated_ms));
  }

  firingCount() {
    let n = 0;
    for (const a of this.alerts.values()) if (a.firing && !a.muted_until) n++;
    return n;
  }
}

// Every miner's fleet row, kept current from the `fleet` topic. Changes that arrive between
// two frames are applied together in one animation frame, so a burst of 200 rows costs one
// render, and the cost of each such batch is measured (window.solomonPerf) for the browser
// test to report.

export class FleetStore {
  constructor(live) {
    this.rows = new Map();
    this.listeners = new Set();
    this.pending = new Set();
    this.reset = false;
    this.scheduled = false;
    this.onBlock = () => {};
    this.loaded = false;
    // Per batch: rows applied, ms of script (store + views), of style and layout, and both.
    this.perf = { batches: [] };
    window.solomonPerf = this.perf;
    // The daemon sends the fleet snapshot in parts; the table is replaced once all are in.
    this.incoming = null;
    live.on("snapshot:fleet", (m) => this.snapshotPart(m));
    live.on("rows", (m) => this.update(m.miners || []));
    live.subscribe("fleet");
  }

  /** `fn(changedIds, reset)` after each batch; `reset` when every row may have changed. */
  listen(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  snapshotPart(m) {
    const part = m.part ?? 0;
    const parts = m.parts ?? 1;
    if (part === 0 || !this.incoming) this.incoming = [];
    for (const r of m.miners || []) this.incoming.push(r);
    if (part + 1 >= parts) {
      const miners = this.incoming;
      this.incoming = null;
      this.snapshot(miners);
    }
  }

  snapshot(miners) {
    const next = new Map();
    for (const r of miners) {
      const old = this.rows.get(r.id);
      if (old) this.checkBlock(old, r);
      next.set(r.id, r);
    }
    this.rows = next;
    this.loaded = true;
    this.reset = true;
    this.schedule();
  }

  update(miners) {
    for (const r of miners) {
      if (r.removed) {
        this.rows.delete(r.id);
        this.pending.add(r.id);
        continue;
      }
      const old = this.rows.get(r.id);
      if (old && old.version > r.version) continue; // stale: a newer one is shown
      if (old) {
        // Rows after the snapshot carry no name or labels: keep the snapshot's (the block
        // banner names the miner from the merged row).
        const merged = { ...r, name: r.name ?? old.name, labels: r.labels ?? old.labels };
        this.checkBlock(old, merged);
        this.rows.set(r.id, merged);
      } else {
        this.rows.set(r.id, r);
      }
      this.pending.add(r.id);
    }
    this.schedule();
  }

  checkBlock(old, r) {
    if ((r.blocks_found ?? 0) > (old.blocks_found ?? 0)) this.onBlock(r);
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.scheduled = false;
    const t0 = performance.now();
    const ids = this.pending;
    const reset = this.reset;
    this.pending = new Set();
    this.reset = false;
    for (const fn of this.listeners) fn(ids, reset);
    const t1 = performance.now();
    // Style and layout would run after this callback anyway; forcing them here costs nothing
    // extra and lets the batch's whole main-thread cost (script + layout) be measured.
    void document.body.offsetHeight;
    const t2 = performance.now();
    const b = this.perf.batches;
    b.push({ rows: reset ? this.rows.size : ids.size, script_ms: t1 - t0, layout_ms: t2 - t1, work_ms: t2 - t0 });
    if (b.length > 1000) b.splice(0, b.length - 1000);
  }

  /** Rows as an array. */
  all() {
    return [...this.rows.values()];
  }

  get(id) {
    return this.rows.get(id);
  }
}

// The one WebSocket to /api/v1/ws: topics to subscribe, handlers per message type, and a
// reconnect with backoff that resubscribes (the daemon answers each topic with a snapshot,
// so nothing is missed across a reconnect).

import { token } from "./api.js";

export class Live {
  constructor() {
    this.topics = new Set();
    this.handlers = new Map();
    this.ws = null;
    this.backoff = 500;
    this.status = () => {};
  }

  /** Calls `fn(msg)` for every message of `type` (`snapshot:<topic>` for snapshots). */
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
  }

  subscribe(topic) {
    if (this.topics.has(topic)) return;
    this.topics.add(topic);
    this.send({ op: "subscribe", topics: [topic] });
  }

  unsubscribe(topic) {
    if (!this.topics.delete(topic)) return;
    this.send({ op: "unsubscribe", topics: [topic] });
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const t = token();
    const url = `${proto}//${location.host}/api/v1/ws${t ? "?token=" + encodeURIComponent(t) : ""}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.status("connecting");
    ws.onopen = () => {
      this.backoff = 500;
      this.status("live");
      if (this.topics.size) ws.send(JSON.stringify({ op: "subscribe", topics: [...this.topics] }));
    };
    ws.onmessage = (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      const type = msg.type === "snapshot" ? `snapshot:${String(msg.topic).split(":")[0]}` : msg.type;
      for (const fn of this.handlers.get(type) || []) fn(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.status("offline");
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }

  /** Reconnects now (after the token changed: the socket authenticates when it opens). */
  reconnect() {
    const old = this.ws;
    this.ws = null;
    if (old) old.close();
    this.connect();
  }
}

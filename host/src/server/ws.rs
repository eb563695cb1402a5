//! `/api/v1/ws`: one task per WebSocket connection.
//!
//! The client sends `{"op": "subscribe", "topics": ["fleet", "miner:<id>", "alerts",
//! "plugins"]}` (or `unsubscribe`); each new topic is answered with a `snapshot` message, then
//! changes follow as they are published: `fleet` gets compact rows, batched by the hub as
//! `{"type": "rows", "miners": [...]}`; `miner:<id>` gets `{"type": "miner", ...}` with the
//! whole record. Changes are read off the hub's rings; a client that
//! falls behind it gets `{"type": "lagged", "missed": n}` and fresh snapshots, and one that
//! stops reading altogether is disconnected after `send_timeout`, so it never slows anyone
//! else. Pings keep idle connections alive; a peer silent for `idle_timeout` is dropped.

use super::AppState;
use super::error::ApiError;
use crate::hub::{Event, FleetRow, SnapshotParts, Topic, TopicError, Topics, miner_json};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

/// WebSocket keep-alive and limits.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Time between pings.
    pub ping_every: Duration,
    /// A peer heard from neither message nor pong for this long is dropped.
    pub idle_timeout: Duration,
    /// A send that cannot finish in this time (the client stopped reading) drops the client.
    pub send_timeout: Duration,
    /// Largest message a client may send.
    pub max_message_bytes: usize,
    /// Changes sent to one client per write (they are flushed together).
    pub batch: usize,
    /// Rows per part of the fleet snapshot. The socket's write buffer grows to the largest
    /// message it sent and keeps that size, so one 3 MB snapshot at 10,000 miners left every
    /// connection holding 3 MB for good (600 MB for 100 dashboards); parts of 500 rows still
    /// left each about 200 KB, parts of 50 about 20 KB.
    pub snapshot_part_rows: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            ping_every: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(10),
            max_message_bytes: 16 * 1024,
            batch: 256,
            snapshot_part_rows: 50,
        }
    }
}

/// What a connection's read buffer starts at: a client sends only small subscribe and
/// unsubscribe requests, and tungstenite's default of 128 KiB, allocated for every
/// connection, was a quarter of what each dashboard cost the daemon.
const READ_BUFFER: usize = 8 * 1024;

/// How much a connection gathers before it writes, short of a flush. The write buffer keeps
/// the largest size it reached; at tungstenite's default of 128 KiB a burst of queued changes
/// left every connection holding that much.
const WRITE_BUFFER: usize = 16 * 1024;

/// Checks the Origin (against cross-site WebSocket hijacking), then upgrades.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let allowed = origin
            .to_str()
            .is_ok_and(|o| state.auth().origin_allowed(o, host));
        if !allowed {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "this page's origin may not open the WebSocket; list it in auth.allowed_origins",
            )
            .into_response();
        }
    }
    let cfg = state.ws_config().clone();
    ws.max_message_size(cfg.max_message_bytes)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| connection(socket, state, cfg))
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Request {
    Subscribe { topics: Vec<String> },
    Unsubscribe { topics: Vec<String> },
}

/// Why a connection ended early.
enum End {
    /// The peer closed or vanished.
    Gone,
    /// A send did not finish in time.
    Stuck,
}

struct Conn {
    socket: WebSocket,
    state: AppState,
    topics: Topics,
    cfg: WsConfig,
    /// The ring of whole records, read while the client follows a miner.
    miners: Option<Receiver<Arc<Event>>>,
}

impl Conn {
    async fn send(&mut self, text: Utf8Bytes) -> Result<(), End> {
        match tokio::time::timeout(self.cfg.send_timeout, self.socket.send(Message::Text(text)))
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Stuck),
        }
    }

    async fn send_json(&mut self, v: serde_json::Value) -> Result<(), End> {
        self.send(v.to_string().into()).await
    }

    /// Queues changes without flushing, then flushes once: one write for a burst.
    async fn send_batch(&mut self, batch: Vec<Arc<Event>>) -> Result<(), End> {
        let feed = async {
            for ev in batch {
                self.socket.feed(Message::Text(ev.json.clone())).await?;
            }
            self.socket.flush().await
        };
        match tokio::time::timeout(self.cfg.send_timeout, feed).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Stuck),
        }
    }

    /// Sends `first` and whatever else wanted is already waiting on `rx`, up to a batch, in
    /// one flush; then resyncs if `rx` had lagged.
    async fn forward(&mut self, first: Arc<Event>, mut rx: Ring<'_>) -> Result<(), End> {
        let mut batch = Vec::new();
        if self.topics.wants(&first.subject) {
            batch.push(first);
        }
        let mut lagged = None;
        while batch.len() < self.cfg.batch {
            let next = match rx {
                Ring::Main(ref mut main) => main.try_recv(),
                Ring::Miners => match self.miners.as_mut() {
                    Some(rx) => rx.try_recv(),
                    None => break,
                },
            };
            match next {
                Ok(ev) if self.topics.wants(&ev.subject) => batch.push(ev),
                Ok(_) => {}
                Err(TryRecvError::Lagged(n)) => {
                    lagged = Some(n);
                    break;
                }
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            self.send_batch(batch).await?;
        }
        match lagged {
            Some(n) => self.resync(n).await,
            None => Ok(()),
        }
    }

    /// Reads the ring of whole records exactly while a `miner:<id>` topic is held. Called
    /// before a new topic's snapshot is sent, so no change falls between the two.
    fn follow_miners(&mut self) {
        match (self.topics.follows_miners(), self.miners.is_some()) {
            (true, false) => self.miners = Some(self.state.hub().subscribe_miners()),
            (false, true) => self.miners = None,
            _ => {}
        }
    }

    async fn snapshot(&mut self, topic: &Topic) -> Result<(), End> {
        let name = topic.to_string();
        let msg = match topic {
            Topic::Fleet => {
                // The topic is held by now, so every row published from here on is forwarded:
                // a snapshot begun after this instant misses nothing. The connection's start
                // would not do; rows before the subscription were dropped as unwanted.
                let since = Instant::now();
                let (state, rows) = (self.state.clone(), self.cfg.snapshot_part_rows);
                let parts = self
                    .state
                    .hub()
                    .snapshots()
                    .get_or_build(since, move || fleet_snapshot(&state, rows))
                    .await;
                for part in parts.iter() {
                    self.send(part.clone()).await?;
                }
                return Ok(());
            }
            Topic::Miner(id) => {
                let miner = self.state.miners().get(id).map(|s| {
                    serde_json::from_str::<serde_json::Value>(&miner_json("miner", &s))
                        .unwrap_or_default()
                });
                serde_json::json!({"type": "snapshot", "topic": name, "miner": miner})
            }
            Topic::Alerts => {
                let (alerts, mutes) = match self.state.storage() {
                    Ok(s) => {
                        let now = crate::host_api::clock::unix_ms();
                        let mutes = s.mutes().active(now).unwrap_or_default();
                        let alerts: Vec<_> = s
                            .alerts()
                            .all()
                            .unwrap_or_default()
                            .into_iter()
                            .map(|a| crate::alerts::AlertView::new(a, &mutes, now))
                            .collect();
                        (alerts, mutes)
                    }
                    Err(_) => (Vec::new(), Vec::new()),
                };
                serde_json::json!({"type": "snapshot", "topic": name, "alerts": alerts, "mutes": mutes})
            }
            Topic::Plugins => {
                let (plugins, failures) = match self.state.plugin_set() {
                    Some(set) => {
                        let s = super::plugins::status(&set);
                        (s.plugins, s.failures)
                    }
                    None => (serde_json::json!([]), Vec::new()),
                };
                serde_json::json!({"type": "snapshot", "topic": name, "plugins": plugins, "failures": failures})
            }
        };
        self.send_json(msg).await
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        let req = match serde_json::from_str::<Request>(text) {
            Ok(r) => r,
            Err(e) => {
                return self
                    .send_json(serde_json::json!({"type": "error", "message": format!("bad request: {e}; expected {{\"op\": \"subscribe\", \"topics\": [...]}}")}))
                    .await;
            }
        };
        let hub = self.state.hub().clone();
        let (subscribe, names) = match req {
            Request::Subscribe { topics } => (true, topics),
            Request::Unsubscribe { topics } => (false, topics),
        };
        let parsed: Result<Vec<Topic>, TopicError> =
            names.iter().map(|t| Topic::parse(t)).collect();
        let topics = match parsed {
            Ok(t) => t,
            Err(e) => {
                return self
                    .send_json(serde_json::json!({"type": "error", "message": e.to_string()}))
                    .await;
            }
        };
        if !subscribe {
            let n = self.topics.remove(&topics);
            self.follow_miners();
            hub.stats().unsubscribed(n);
            let names: Vec<String> = topics.iter().map(ToString::to_string).collect();
            return self
                .send_json(serde_json::json!({"type": "unsubscribed", "topics": names}))
                .await;
        }
        let fresh = match self.topics.add(topics) {
            Ok(f) => f,
            Err(e) => {
                return self
                    .send_json(serde_json::json!({"type": "error", "message": e.to_string()}))
                    .await;
            }
        };
        hub.stats().subscribed(fresh.len());
        self.follow_miners();
        let names: Vec<String> = fresh.iter().map(ToString::to_string).collect();
        self.send_json(serde_json::json!({"type": "subscribed", "topics": names}))
            .await?;
        for t in &fresh {
            self.snapshot(t).await?;
        }
        Ok(())
    }

    /// After falling behind the ring: say so, then resend what the client follows.
    async fn resync(&mut self, missed: u64) -> Result<(), End> {
        self.state.hub().stats().lagged(missed);
        self.send_json(serde_json::json!({"type": "lagged", "missed": missed}))
            .await?;
        let topics: Vec<Topic> = self.topics.iter().cloned().collect();
        for t in &topics {
            self.snapshot(t).await?;
        }
        Ok(())
    }
}

async fn connection(socket: WebSocket, state: AppState, cfg: WsConfig) {
    let hub = state.hub().clone();
    hub.stats().connected();
    let mut rx = hub.subscribe();
    let mut closing = hub.closing();
    let mut ping = tokio::time::interval_at(Instant::now() + cfg.ping_every, cfg.ping_every);
    let mut heard = Instant::now();
    let mut conn = Conn {
        socket,
        state,
        topics: Topics::default(),
        cfg,
        miners: None,
    };
    let end: Result<(), End> = loop {
        if *closing.borrow_and_update() {
            break Ok(());
        }
        let step = tokio::select! {
            msg = conn.socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    heard = Instant::now();
                    conn.on_text(t.as_str()).await
                }
                Some(Ok(Message::Binary(_))) => {
                    heard = Instant::now();
                    conn.send_json(serde_json::json!({"type": "error", "message": "send JSON text messages"})).await
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    heard = Instant::now();
                    Ok(())
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break Err(End::Gone),
            },
            ev = rx.recv() => match ev {
                Ok(ev) => conn.forward(ev, Ring::Main(&mut rx)).await,
                Err(RecvError::Lagged(n)) => conn.resync(n).await,
                Err(RecvError::Closed) => break Ok(()),
            },
            ev = recv_some(&mut conn.miners) => match ev {
                Ok(ev) => conn.forward(ev, Ring::Miners).await,
                Err(RecvError::Lagged(n)) => conn.resync(n).await,
                Err(RecvError::Closed) => break Ok(()),
            },
            _ = ping.tick() => {
                if heard.elapsed() > conn.cfg.idle_timeout {
                    break Err(End::Gone);
                }
                match tokio::time::timeout(conn.cfg.send_timeout, conn.socket.send(Message::Ping(Default::default()))).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(_)) => Err(End::Gone),
                    Err(_) => Err(End::Stuck),
                }
            },
            _ = closing.changed() => break Ok(()),
        };
        if let Err(e) = step {
            break Err(e);
        }
    };
    match end {
        Ok(()) => {
            // Shutting down: say so with a close frame ("going away"), briefly.
            let frame = CloseFrame {
                code: 1001,
                reason: "server shutting down".into(),
            };
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                conn.socket.send(Message::Close(Some(frame))),
            )
            .await;
        }
        Err(End::Stuck) => {
            hub.stats().dropped();
            tracing::info!("dropped a WebSocket client that stopped reading");
        }
        Err(End::Gone) => {}
    }
    hub.stats().disconnected(conn.topics.len());
}

/// Which ring [`Conn::forward`] drains.
enum Ring<'a> {
    Main(&'a mut Receiver<Arc<Event>>),
    Miners,
}

/// The next change on `rx`; pending forever while there is no ring to read.
async fn recv_some(rx: &mut Option<Receiver<Arc<Event>>>) -> Result<Arc<Event>, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The fleet snapshot in parts of at most `part_rows` rows (see [`SnapshotParts`]): a row
/// per configured miner (with its name and labels), and one per other miner the store holds.
/// A miner not yet polled has only its id, name and labels. Rows are written straight into
/// the parts: at 10,000 miners a `serde_json::Value` tree per row cost ~50 ms and ~30 MB per
/// client.
fn fleet_snapshot(state: &AppState, part_rows: usize) -> Vec<String> {
    let mut configs = state
        .ready()
        .and_then(|r| r.manager)
        .map(|m| m.configs())
        .unwrap_or_default();
    configs.sort_by(|a, b| a.id.cmp(&b.id));
    // `list` comes sorted by id.
    let others: Vec<_> = state
        .miners()
        .list()
        .into_iter()
        .filter(|s| {
            configs
                .binary_search_by(|c| c.id.as_str().cmp(&s.record.id))
                .is_err()
        })
        .collect();
    let mut parts = SnapshotParts::new(configs.len() + others.len(), part_rows);
    for c in &configs {
        match state.miners().get(&c.id) {
            Some(snap) => parts.push(&FleetRow {
                name: c.name.as_deref(),
                labels: Some(&c.labels),
                ..FleetRow::of(&snap)
            }),
            None => {
                parts.push(&serde_json::json!({"id": c.id, "name": c.name, "labels": c.labels}))
            }
        }
    }
    for snap in &others {
        parts.push(&FleetRow::of(snap));
    }
    parts.finish()
}

//! `/api/v1/ws`: one task per WebSocket connection.
//!
//! The client sends `{"op": "subscribe", "topics": ["fleet", "miner:<id>", "alerts",
//! "plugins"]}` (or `unsubscribe`); each new topic is answered with a `snapshot` message, then
//! changes follow as they are published. Changes are read off the hub's ring; a client that
//! falls behind it gets `{"type": "lagged", "missed": n}` and fresh snapshots, and one that
//! stops reading altogether is disconnected after `send_timeout`, so it never slows anyone
//! else. Pings keep idle connections alive; a peer silent for `idle_timeout` is dropped.

use super::AppState;
use super::error::ApiError;
use super::miners::all_views;
use crate::hub::{Event, Topic, TopicError, Topics, miner_json};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
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
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            ping_every: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(10),
            max_message_bytes: 16 * 1024,
            batch: 256,
        }
    }
}

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

    async fn snapshot(&mut self, topic: &Topic) -> Result<(), End> {
        let name = topic.to_string();
        let msg = match topic {
            Topic::Fleet => {
                let miners = all_views(&self.state);
                serde_json::json!({"type": "snapshot", "topic": name, "miners": miners})
            }
            Topic::Miner(id) => {
                let miner = self.state.miners().get(id).map(|s| {
                    serde_json::from_str::<serde_json::Value>(&miner_json("miner", &s))
                        .unwrap_or_default()
                });
                serde_json::json!({"type": "snapshot", "topic": name, "miner": miner})
            }
            Topic::Alerts => {
                let alerts = match self.state.storage() {
                    Ok(s) => s.alerts().all().unwrap_or_default(),
                    Err(_) => Vec::new(),
                };
                serde_json::json!({"type": "snapshot", "topic": name, "alerts": alerts})
            }
            Topic::Plugins => {
                let plugins = super::plugins::plugin_list(&self.state.plugins());
                serde_json::json!({"type": "snapshot", "topic": name, "plugins": plugins})
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
                Ok(ev) => {
                    let mut batch = Vec::new();
                    if conn.topics.wants(&ev.subject) {
                        batch.push(ev);
                    }
                    // Take what else is already waiting, up to a batch, for one flush.
                    let mut lagged = None;
                    while batch.len() < conn.cfg.batch {
                        match rx.try_recv() {
                            Ok(ev) => if conn.topics.wants(&ev.subject) { batch.push(ev) },
                            Err(TryRecvError::Lagged(n)) => { lagged = Some(n); break }
                            Err(_) => break,
                        }
                    }
                    let sent = if batch.is_empty() { Ok(()) } else { conn.send_batch(batch).await };
                    match (sent, lagged) {
                        (Ok(()), Some(n)) => conn.resync(n).await,
                        (r, _) => r,
                    }
                }
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

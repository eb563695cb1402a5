//! The WebSocket hub: where every change the daemon makes is published once and fanned out to
//! the connected clients.
//!
//! A change is serialized to JSON once, at publish time, and put on a bounded broadcast ring
//! ([`tokio::sync::broadcast`]): publishing never waits for a client. Each connection reads the
//! ring at its own pace; one that falls more than the ring's length behind is told it lagged
//! and sent fresh snapshots, so a slow client costs the others nothing.

mod row;
mod topic;

pub use row::FleetRow;
pub use topic::{Topic, TopicError, Topics};

use crate::state::Snapshot;
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{broadcast, watch};

/// What a published change is about, to route it to the topics that want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A miner (topics `fleet` and `miner:<id>`).
    Miner(String),
    /// An alert (topic `alerts`).
    Alerts,
    /// The loaded plugins (topic `plugins`).
    Plugins,
}

/// One published change, already serialized.
#[derive(Debug, Clone)]
pub struct Event {
    /// Who wants it.
    pub subject: Subject,
    /// The whole message, for subscribers of the subject's own topic (`miner:<id>`,
    /// `alerts`, `plugins`).
    pub json: Utf8Bytes,
    /// For a miner: its row (a JSON object), which `fleet` subscribers get batched in a `rows`
    /// message.
    pub row: Option<String>,
}

/// Counters of the hub, for `/metrics`.
#[derive(Debug, Default)]
pub struct HubStats {
    clients: AtomicU64,
    subscriptions: AtomicU64,
    published: AtomicU64,
    lagged_messages: AtomicU64,
    dropped_clients: AtomicU64,
}

/// A copy of [`HubStats`].
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct HubStatsSnapshot {
    /// Connected clients.
    pub clients: u64,
    /// Topic subscriptions across clients.
    pub subscriptions: u64,
    /// Changes published.
    pub published: u64,
    /// Messages clients missed because they fell behind (each was resynced).
    pub lagged_messages: u64,
    /// Clients disconnected because they stopped reading.
    pub dropped_clients: u64,
}

/// The hub. Share it behind an `Arc`.
#[derive(Debug)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Event>>,
    stats: HubStats,
    shutdown: watch::Sender<bool>,
}

/// The message sent for a miner change: the record with its store version, so a client can
/// drop anything older than what a snapshot already gave it.
#[derive(Serialize)]
struct MinerMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    version: u64,
    updated_ms: u64,
    record: &'a solomon_plugin_sdk::MinerRecord,
}

impl Hub {
    /// A hub whose ring holds `capacity` changes (each client may fall that far behind).
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Hub {
            tx,
            stats: HubStats::default(),
            shutdown: watch::Sender::new(false),
        }
    }

    /// Publishes a miner's new snapshot.
    pub fn miner_updated(&self, snap: &Snapshot) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let json = miner_json("miner", snap);
        let row = serde_json::to_string(&FleetRow::of(snap)).ok();
        self.publish(Subject::Miner(snap.record.id.clone()), json, row);
    }

    /// Publishes that a miner was removed.
    pub fn miner_removed(&self, id: &str) {
        let json = serde_json::json!({"type": "miner_removed", "id": id}).to_string();
        let row = serde_json::json!({"id": id, "removed": true}).to_string();
        self.publish(Subject::Miner(id.to_string()), json, Some(row));
    }

    /// Publishes an alert change (`alert` is the alert's JSON).
    pub fn alert(&self, alert: &serde_json::Value) {
        let json = serde_json::json!({"type": "alert", "alert": alert}).to_string();
        self.publish(Subject::Alerts, json, None);
    }

    /// Publishes the mutes in force after they changed (on the `alerts` topic).
    pub fn mutes(&self, mutes: &serde_json::Value) {
        let json = serde_json::json!({"type": "mutes", "mutes": mutes}).to_string();
        self.publish(Subject::Alerts, json, None);
    }

    /// Publishes the plugin list (and the files that failed to load) after it changed.
    pub fn plugins(&self, plugins: &serde_json::Value, failures: &serde_json::Value) {
        let json = serde_json::json!({"type": "plugins", "plugins": plugins, "failures": failures})
            .to_string();
        self.publish(Subject::Plugins, json, None);
    }

    fn publish(&self, subject: Subject, json: String, row: Option<String>) {
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        // An error only means nobody listens.
        let _ = self.tx.send(Arc::new(Event {
            subject,
            json: json.into(),
            row,
        }));
    }

    /// A new reader of the ring, positioned at its end.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Resolves to `true` once [`Hub::close`] was called.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Asks every connection to send a close frame and end.
    pub fn close(&self) {
        self.shutdown.send_replace(true);
    }

    /// The live counters.
    pub fn stats(&self) -> &HubStats {
        &self.stats
    }
}

/// Serializes a miner snapshot as the message of type `kind`.
pub fn miner_json(kind: &'static str, snap: &Snapshot) -> String {
    serde_json::to_string(&MinerMessage {
        kind,
        id: &snap.record.id,
        version: snap.version,
        updated_ms: snap.updated_ms,
        record: &snap.record,
    })
    .unwrap_or_default()
}

impl HubStats {
    pub(crate) fn connected(&self) {
        self.clients.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn disconnected(&self, subscriptions: usize) {
        self.clients.fetch_sub(1, Ordering::Relaxed);
        self.subscriptions
            .fetch_sub(subscriptions as u64, Ordering::Relaxed);
    }
    pub(crate) fn subscribed(&self, n: usize) {
        self.subscriptions.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub(crate) fn unsubscribed(&self, n: usize) {
        self.subscriptions.fetch_sub(n as u64, Ordering::Relaxed);
    }
    pub(crate) fn lagged(&self, missed: u64) {
        self.lagged_messages.fetch_add(missed, Ordering::Relaxed);
    }
    pub(crate) fn dropped(&self) {
        self.dropped_clients.fetch_add(1, Ordering::Relaxed);
    }

    /// The current counters.
    pub fn snapshot(&self) -> HubStatsSnapshot {
        HubStatsSnapshot {
            clients: self.clients.load(Ordering::Relaxed),
            subscriptions: self.subscriptions.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            lagged_messages: self.lagged_messages.load(Ordering::Relaxed),
            dropped_clients: self.dropped_clients.load(Ordering::Relaxed),
        }
    }
}

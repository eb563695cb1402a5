//! The WebSocket hub: where every change the daemon makes is published once and fanned out to
//! the connected clients.
//!
//! A change is serialized to JSON once, at publish time, and put on a bounded broadcast ring
//! ([`tokio::sync::broadcast`]): publishing never waits for a client. Each connection reads the
//! ring at its own pace; one that falls more than the ring's length behind is told it lagged
//! and sent fresh snapshots, so a slow client costs the others nothing.
//!
//! There are two rings. The main one carries fleet rows, alerts and plugin changes; the rows
//! are gathered for at most [`ROWS_WINDOW`] and published as one `rows` message, built once
//! for every client. At 10,000 miners that is a few hundred messages a second instead of
//! 2,000 per client: waking 100 connections per poll cost more CPU than polling itself. Whole
//! records go on the second ring, which only connections following a `miner:<id>` topic read,
//! and are not even serialized while nobody does.

mod row;
mod snapshot;
mod topic;

pub use row::FleetRow;
pub(crate) use row::RowsMessage;
pub use snapshot::{SnapshotCache, SnapshotParts};
pub use topic::{Topic, TopicError, Topics};

use crate::state::Snapshot;
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast, watch};

/// Longest a fleet row waits to share a `rows` message with others. A row arriving after a
/// quiet spell goes out at once. With tokio's 1 ms timer a wait lasts 1-2 ms; at 2 ms it
/// lasted 2-3 ms, and the p99 from store write to 100 clients was 10.4-11.8 ms against
/// 9.5-10.0 ms now, with no measurable cost in CPU at 10,000 miners (`solomon bench daemon`).
pub const ROWS_WINDOW: Duration = Duration::from_millis(1);

/// Most rows in one `rows` message.
const ROWS_MAX: usize = 4096;

/// What a published change is about, to route it to the topics that want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Rows of changed miners (topic `fleet`).
    Fleet,
    /// A miner's whole record (topic `miner:<id>`).
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
    /// The message, sent as it is to every subscriber of the subject's topic.
    pub json: Utf8Bytes,
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
    miners_tx: broadcast::Sender<Arc<Event>>,
    /// Fleet rows not yet published.
    rows: Arc<Mutex<RowBuffer>>,
    /// Wakes the task that publishes rows left waiting for their window.
    flush: Arc<Notify>,
    flusher: OnceLock<()>,
    /// Where the flusher runs: the runtime the hub was made in (the one serving clients),
    /// not that of whichever task publishes first (polling, on a thread of its own).
    executor: Option<tokio::runtime::Handle>,
    stats: Arc<HubStats>,
    shutdown: watch::Sender<bool>,
    snapshots: SnapshotCache,
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
    /// A hub whose rings hold `capacity` messages each (each client may fall that far behind).
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        let (miners_tx, _) = broadcast::channel(capacity.max(16));
        Hub {
            tx,
            miners_tx,
            rows: Arc::default(),
            flush: Arc::default(),
            flusher: OnceLock::new(),
            executor: tokio::runtime::Handle::try_current().ok(),
            stats: Arc::default(),
            shutdown: watch::Sender::new(false),
            snapshots: SnapshotCache::default(),
        }
    }

    /// Publishes a miner's new snapshot: its row to `fleet`, its record to `miner:<id>`.
    pub fn miner_updated(&self, snap: &Snapshot) {
        if self.miners_tx.receiver_count() > 0 {
            let json = miner_json("miner", snap);
            self.send(
                &self.miners_tx,
                Subject::Miner(snap.record.id.clone()),
                json,
            );
        }
        if self.tx.receiver_count() > 0 {
            self.push_row(&FleetRow::of(snap), &snap.record.id);
        }
    }

    /// Publishes that a miner was removed.
    pub fn miner_removed(&self, id: &str) {
        let json = serde_json::json!({"type": "miner_removed", "id": id}).to_string();
        self.send(&self.miners_tx, Subject::Miner(id.to_string()), json);
        self.push_row(&serde_json::json!({"id": id, "removed": true}), id);
    }

    /// Publishes an alert change (`alert` is the alert's JSON).
    pub fn alert(&self, alert: &serde_json::Value) {
        let json = serde_json::json!({"type": "alert", "alert": alert}).to_string();
        self.send(&self.tx, Subject::Alerts, json);
    }

    /// Publishes the mutes in force after they changed (on the `alerts` topic).
    pub fn mutes(&self, mutes: &serde_json::Value) {
        let json = serde_json::json!({"type": "mutes", "mutes": mutes}).to_string();
        self.send(&self.tx, Subject::Alerts, json);
    }

    /// Publishes the plugin list (and the files that failed to load) after it changed.
    pub fn plugins(&self, plugins: &serde_json::Value, failures: &serde_json::Value) {
        let json = serde_json::json!({"type": "plugins", "plugins": plugins, "failures": failures})
            .to_string();
        self.send(&self.tx, Subject::Plugins, json);
    }

    fn send(&self, ring: &broadcast::Sender<Arc<Event>>, subject: Subject, json: String) {
        publish(ring, &self.stats, subject, json);
    }

    /// Queues a fleet row. It goes out at once, with any others waiting, if the last `rows`
    /// message is at least [`ROWS_WINDOW`] old; otherwise the flusher task sends it when the
    /// window ends. Rows after a quiet spell thus wait for nothing, and under load each
    /// client gets one message per window.
    fn push_row<T: Serialize>(&self, row: &T, id: &str) {
        let now = Instant::now();
        let (ready, wake) = {
            let mut buf = lock(&self.rows);
            if let Err(e) = buf.msg.push(row) {
                tracing::warn!(miner = %id, "a fleet row did not serialize: {e}");
                return;
            }
            let here = !THROUGH_FLUSHER.get();
            if (here && now >= buf.last + ROWS_WINDOW) || buf.msg.rows() >= ROWS_MAX {
                (Some(buf.take(now)), false)
            } else {
                (None, !std::mem::replace(&mut buf.flush_pending, true))
            }
        };
        if let Some(msg) = ready {
            self.send(&self.tx, Subject::Fleet, msg);
        } else if wake {
            self.wake_flusher();
        }
    }

    /// Starts the flusher on first use (outside any runtime, flushes inline) and wakes it.
    fn wake_flusher(&self) {
        if self.flusher.get().is_none() {
            let Some(on) = self
                .executor
                .clone()
                .or_else(|| tokio::runtime::Handle::try_current().ok())
            else {
                let msg = lock(&self.rows).take(Instant::now());
                self.send(&self.tx, Subject::Fleet, msg);
                return;
            };
            self.flusher.get_or_init(|| {
                let (rows, flush, tx, stats) = (
                    Arc::downgrade(&self.rows),
                    self.flush.clone(),
                    self.tx.clone(),
                    self.stats.clone(),
                );
                drop(on.spawn(flush_rows(rows, flush, tx, stats)));
            });
        }
        self.flush.notify_one();
    }

    /// A new reader of the main ring (rows, alerts, plugins), positioned at its end.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// A new reader of the ring of whole miner records, positioned at its end.
    pub fn subscribe_miners(&self) -> broadcast::Receiver<Arc<Event>> {
        self.miners_tx.subscribe()
    }

    /// The fleet snapshot most recently built, shared by clients that subscribe together.
    pub fn snapshots(&self) -> &SnapshotCache {
        &self.snapshots
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

impl Drop for Hub {
    fn drop(&mut self) {
        self.flush.notify_one();
    }
}

/// What opens a `rows` message: `{"type":"rows","miners":[...]}`.
const ROWS_HEAD: &str = r#"{"type":"rows","miners":["#;

/// Fleet rows waiting for their window.
#[derive(Debug)]
struct RowBuffer {
    /// The next `rows` message, its rows written in as they come.
    msg: RowsMessage,
    /// How long the last message grew, to make room for the next one at once.
    last_len: usize,
    /// When the last `rows` message went out.
    last: Instant,
    /// The flusher was woken for these rows.
    flush_pending: bool,
}

impl Default for RowBuffer {
    fn default() -> Self {
        let now = Instant::now();
        RowBuffer {
            msg: RowsMessage::new(ROWS_HEAD, 0),
            last_len: 0,
            // The first row goes out at once.
            last: now.checked_sub(ROWS_WINDOW).unwrap_or(now),
            flush_pending: false,
        }
    }
}

impl RowBuffer {
    /// The waiting rows as one message; the buffer starts a new window at `now`.
    fn take(&mut self, now: Instant) -> String {
        let next = RowsMessage::new(ROWS_HEAD, self.last_len);
        let msg = std::mem::replace(&mut self.msg, next).finish();
        self.last_len = msg.len();
        self.last = now;
        self.flush_pending = false;
        msg
    }
}

fn lock(rows: &Mutex<RowBuffer>) -> std::sync::MutexGuard<'_, RowBuffer> {
    // Every critical section leaves the buffer whole, so a poisoned lock is still consistent.
    rows.lock().unwrap_or_else(|p| p.into_inner())
}

thread_local! {
    static THROUGH_FLUSHER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes the fleet rows published from the calling thread go out through the hub's flusher,
/// on the runtime the hub was made in, never from this thread itself. For threads that do
/// not serve clients (the daemon's polling threads): the flusher wakes the clients' tasks
/// where they run, while 100 of them woken from a polling thread took p99 store write ->
/// client from 7 to 9-11 ms.
pub fn publish_through_flusher_on_this_thread() {
    THROUGH_FLUSHER.set(true);
}

/// Sends rows that waited out their window. Ends when the hub is dropped (its `Drop` wakes
/// it to find the rows gone), releasing its handle on the ring.
async fn flush_rows(
    rows: std::sync::Weak<Mutex<RowBuffer>>,
    flush: Arc<Notify>,
    tx: broadcast::Sender<Arc<Event>>,
    stats: Arc<HubStats>,
) {
    loop {
        flush.notified().await;
        let Some(due) = rows.upgrade().map(|r| lock(&r).last + ROWS_WINDOW) else {
            return;
        };
        tokio::time::sleep_until(due.into()).await;
        let Some(buf) = rows.upgrade() else { return };
        let msg = {
            let mut buf = lock(&buf);
            // A row that came after the window already took the waiting ones along.
            if buf.msg.rows() == 0 {
                buf.flush_pending = false;
                continue;
            }
            buf.take(Instant::now())
        };
        publish(&tx, &stats, Subject::Fleet, msg);
    }
}

/// Puts one message on `ring` and counts it.
fn publish(ring: &broadcast::Sender<Arc<Event>>, stats: &HubStats, subject: Subject, json: String) {
    stats.published.fetch_add(1, Ordering::Relaxed);
    // An error only means nobody listens.
    let _ = ring.send(Arc::new(Event {
        subject,
        json: json.into(),
    }));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MinerStore;
    use solomon_plugin_sdk::MinerRecord;

    fn update(hub: &Hub, store: &MinerStore, id: &str) {
        hub.miner_updated(&store.set(MinerRecord {
            id: id.into(),
            ..Default::default()
        }));
    }

    fn ids(ev: &Event) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(ev.json.as_str()).unwrap_or_default();
        assert_eq!(v["type"], "rows", "{v}");
        v["miners"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["id"].as_str())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn rows_close_together_share_a_message_and_a_lone_row_waits_for_nothing() {
        let (hub, store) = (Hub::new(64), MinerStore::new());
        let mut rx = hub.subscribe();
        tokio::time::sleep(ROWS_WINDOW * 2).await;
        // After a quiet spell: out at once, from the publisher's own call.
        update(&hub, &store, "a");
        let first = rx.try_recv().expect("sent without waiting");
        assert_eq!(ids(&first), ["a"]);
        // Inside the window: held, then sent together by the flusher.
        update(&hub, &store, "b");
        update(&hub, &store, "c");
        assert!(rx.try_recv().is_err(), "held for the window");
        let next = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("flushed after the window")
            .expect("open");
        assert_eq!(ids(&next), ["b", "c"]);
        assert_eq!(next.subject, Subject::Fleet);
    }

    #[tokio::test]
    async fn whole_records_go_only_to_the_miners_ring_and_only_while_it_is_read() {
        let (hub, store) = (Hub::new(64), MinerStore::new());
        let mut main = hub.subscribe();
        update(&hub, &store, "a");
        assert_eq!(hub.stats().snapshot().published, 1, "a row, no record");
        let mut miners = hub.subscribe_miners();
        tokio::time::sleep(ROWS_WINDOW * 2).await;
        update(&hub, &store, "a");
        let ev = miners.try_recv().expect("the record");
        assert_eq!(ev.subject, Subject::Miner("a".into()));
        assert!(ev.json.as_str().contains(r#""type":"miner""#));
        let mut subjects = Vec::new();
        while let Ok(ev) = main.try_recv() {
            subjects.push(ev.subject.clone());
        }
        assert_eq!(subjects, [Subject::Fleet, Subject::Fleet], "rows only");
    }

    #[tokio::test]
    async fn the_flusher_ends_with_the_hub_and_lets_go_of_the_ring() {
        let (hub, store) = (Hub::new(64), MinerStore::new());
        let mut rx = hub.subscribe();
        update(&hub, &store, "a");
        update(&hub, &store, "b"); // inside the window: the flusher sends it
        assert_eq!(rows_received(&mut rx, 2).await, ["a", "b"]);
        // The flusher now waits for rows; dropping the hub must end it, or its handle on the
        // ring would keep every connection's receiver open.
        drop(hub);
        match tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
            Ok(Err(broadcast::error::RecvError::Closed)) => {}
            other => panic!("expected the ring to close, got {other:?}"),
        }
    }

    /// A thread that does not serve clients (no runtime of the hub's) hands its rows to the
    /// flusher, which the hub started on its own runtime: nothing is sent from that thread
    /// itself, and the rows still arrive.
    #[tokio::test]
    async fn rows_from_a_polling_thread_go_out_through_the_flusher() {
        let (hub, store) = (Arc::new(Hub::new(64)), Arc::new(MinerStore::new()));
        let mut rx = hub.subscribe();
        let (h, st) = (hub.clone(), store.clone());
        let sent_at_once = std::thread::spawn(move || {
            publish_through_flusher_on_this_thread();
            update(&h, &st, "a");
            update(&h, &st, "b");
            h.stats().snapshot().published
        })
        .join()
        .expect("publishing thread");
        assert_eq!(sent_at_once, 0, "nothing sent from the publishing thread");
        assert_eq!(rows_received(&mut rx, 2).await, ["a", "b"]);
    }

    /// The ids of the first `n` rows `rx` receives, in whichever messages they come.
    async fn rows_received(rx: &mut broadcast::Receiver<Arc<Event>>, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        while got.len() < n {
            let ev = tokio::time::timeout(Duration::from_secs(2), rx.recv())
                .await
                .expect("a rows message")
                .expect("open");
            got.extend(ids(&ev));
        }
        got
    }

    #[test]
    fn outside_a_runtime_rows_go_out_at_once() {
        let (hub, store) = (Hub::new(64), MinerStore::new());
        let mut rx = hub.subscribe();
        update(&hub, &store, "a");
        update(&hub, &store, "b");
        let got: Vec<Vec<String>> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| ids(&e))
            .collect();
        assert_eq!(got.concat(), ["a", "b"]);
    }
}

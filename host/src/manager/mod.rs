//! Polling every miner: one schedule for the fleet, each miner's turns jittered and at most one
//! request in flight per miner (ESP32 miners are fragile), a global bound on concurrent polls,
//! backoff while a miner is down, and `offline` after a configurable number of missed polls, so a miner that stops
//! answering is never shown with its last hashrate. Records go to the live store at once and
//! to durable storage in batches.

mod poller;
mod schedule;
mod stats;

pub use stats::PollStats;

use crate::alerts::EventSender;
use crate::discovery::ProbeConfig;
use crate::hub::Hub;
use crate::registry::PluginSet;
use crate::state::MinerStore;
use crate::storage::{MinerConfig, Sample, Storage, StorageError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

/// How miners are polled.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Time between polls of one miner.
    pub poll_interval: Duration,
    /// Consecutive failed polls before a miner is `offline`.
    pub offline_after: u32,
    /// Polls running at once across the fleet.
    pub max_concurrent: usize,
    /// Longest wait between polls of a miner that is down.
    pub max_backoff: Duration,
    /// Probe settings for auto-detection.
    pub probe: ProbeConfig,
    /// How often polled records are written to storage in one batch.
    pub ingest_every: Duration,
    /// Shortest time without a new accepted share before a miner that still reports a hashrate
    /// is called stalled.
    pub stall_min: Duration,
    /// Expected share intervals without a share before a stall (default 10: with Poisson
    /// shares a healthy miner goes that long without one with probability e^-10).
    pub stall_intervals: f64,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            poll_interval: Duration::from_secs(10),
            offline_after: 2,
            max_concurrent: 256,
            max_backoff: Duration::from_secs(120),
            probe: ProbeConfig::default(),
            ingest_every: Duration::from_secs(1),
            stall_min: Duration::from_secs(600),
            stall_intervals: 10.0,
        }
    }
}

/// What the pollers share.
pub(crate) struct Shared {
    pub store: Arc<MinerStore>,
    pub drivers: Arc<PluginSet>,
    pub config: ManagerConfig,
    pub permits: Semaphore,
    pub ingest: mpsc::Sender<HistoryRow>,
    pub hub: Arc<Hub>,
    pub events: Option<EventSender>,
    pub stats: PollStats,
}

/// Runs the pollers.
pub struct MinerManager {
    shared: Arc<Shared>,
    /// The miners polled, by id.
    miners: Mutex<HashMap<String, Arc<MinerConfig>>>,
    schedule: mpsc::UnboundedSender<schedule::Command>,
    scheduler: Mutex<Option<JoinHandle<()>>>,
    ingester: Mutex<Option<(JoinHandle<()>, oneshot::Sender<()>)>>,
}

impl MinerManager {
    /// Starts the storage batcher; add miners with [`MinerManager::add`]. Every polled record
    /// goes to `store`, to `storage` (batched), to `hub`, and as an event to `events` (the
    /// alert engine) when given.
    pub fn new(
        store: Arc<MinerStore>,
        storage: Arc<Storage>,
        drivers: Arc<PluginSet>,
        config: ManagerConfig,
        hub: Arc<Hub>,
        events: Option<EventSender>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(65_536);
        let (stop_tx, stop_rx) = oneshot::channel();
        let every = config.ingest_every;
        let shared = Arc::new(Shared {
            store,
            drivers,
            permits: Semaphore::new(config.max_concurrent.max(1)),
            config,
            ingest: tx,
            hub,
            events,
            stats: PollStats::default(),
        });
        let (schedule, commands) = mpsc::unbounded_channel();
        MinerManager {
            scheduler: Mutex::new(Some(tokio::spawn(schedule::run(shared.clone(), commands)))),
            shared,
            miners: Mutex::new(HashMap::new()),
            schedule,
            ingester: Mutex::new(Some((
                tokio::spawn(ingest_batches(rx, storage, every, stop_rx)),
                stop_tx,
            ))),
        }
    }

    /// Starts polling `miner` (replacing a miner of the same id, whose config it takes).
    pub fn add(&self, miner: MinerConfig) {
        let miner = Arc::new(miner);
        self.miners.lock().insert(miner.id.clone(), miner.clone());
        let _ = self.schedule.send(schedule::Command::Add(miner));
    }

    /// Stops polling `id` and forgets its live record; true if it was polled. Waits for its
    /// poll in flight to end first: a poll finishing on another thread would otherwise write
    /// the record back after it was removed.
    pub async fn remove(&self, id: &str) -> bool {
        let polled = self.miners.lock().remove(id).is_some();
        let (ack, running) = oneshot::channel();
        if self
            .schedule
            .send(schedule::Command::Remove(id.to_string(), ack))
            .is_ok()
            && let Ok(Some(task)) = running.await
        {
            let _ = task.await;
        }
        self.shared.store.remove(id);
        polled
    }

    /// Polls `id` now rather than at its next turn; false if it is not polled.
    pub fn poll_now(&self, id: &str) -> bool {
        if !self.miners.lock().contains_key(id) {
            return false;
        }
        let _ = self
            .schedule
            .send(schedule::Command::PollNow(id.to_string()));
        true
    }

    /// The config of a polled miner.
    pub fn config(&self, id: &str) -> Option<MinerConfig> {
        self.miners.lock().get(id).map(|m| MinerConfig::clone(m))
    }

    /// The configs of every polled miner.
    pub fn configs(&self) -> Vec<MinerConfig> {
        self.miners
            .lock()
            .values()
            .map(|m| MinerConfig::clone(m))
            .collect()
    }

    /// Poll counters and latency.
    pub fn stats(&self) -> &PollStats {
        &self.shared.stats
    }

    /// Ids of the miners being polled.
    pub fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.miners.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// Stops every poll and writes what was polled to storage. Idempotent.
    pub async fn shutdown(&self) {
        self.miners.lock().clear();
        let (ack, stopped) = oneshot::channel();
        if self.schedule.send(schedule::Command::Shutdown(ack)).is_ok() {
            let _ = stopped.await;
        }
        let scheduler = self.scheduler.lock().take();
        if let Some(task) = scheduler {
            let _ = task.await;
        }
        let ingester = self.ingester.lock().take();
        if let Some((task, stop)) = ingester {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

/// One poll's history: the miner id and the sample of its record. Only the sample is queued,
/// not a copy of the whole record: a second's polls wait in the batch (2,000 of them at 10,000
/// miners), and as records they were ~9 MB of the daemon's heap and a clone per poll.
pub(crate) type HistoryRow = (String, Sample);

/// Collects polled samples and writes them to storage every `every`, durably, in one batch.
async fn ingest_batches(
    mut rx: mpsc::Receiver<HistoryRow>,
    storage: Arc<Storage>,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let mut batch: Vec<HistoryRow> = Vec::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Some(rec) => batch.push(rec),
                None => break,
            },
            _ = &mut stop => {
                // Whatever was polled before the stop is written too.
                while let Ok(rec) = rx.try_recv() {
                    batch.push(rec);
                }
                break;
            }
            _ = tick.tick() => {
                if !batch.is_empty() {
                    if let Err(e) = write(&storage, &batch).await {
                        tracing::error!(records = batch.len(), "history write failed: {e}");
                    }
                    batch.clear();
                }
            }
        }
    }
    if !batch.is_empty()
        && let Err(e) = write(&storage, &batch).await
    {
        tracing::error!(records = batch.len(), "final history write failed: {e}");
    }
}

async fn write(storage: &Storage, batch: &[HistoryRow]) -> Result<(), StorageError> {
    let samples: Vec<(&str, Sample)> = batch.iter().map(|(id, s)| (id.as_str(), *s)).collect();
    storage.ingest_samples(&samples).await
}

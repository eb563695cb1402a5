//! When a write counts as durable.
//!
//! Writes are appended to the write-ahead log at once; acknowledging them waits for an fsync
//! of the log that began after the write. With [`FlushPolicy::GroupCommit`] one flusher thread
//! fsyncs at most once per interval for every write waiting, so a poll cycle of thousands of
//! records costs one fsync. The flusher is a plain thread (a blocking fsync must not stall
//! async workers) woken through a crossbeam channel; writers await a tokio `watch`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

/// How writes are made durable before they are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// fsync before acknowledging each write (safest; ~150 µs per write on this disk class,
    /// far slower on SD cards).
    EveryWrite,
    /// Acknowledge after the next group fsync; at most one fsync per interval.
    GroupCommit(Duration),
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy::GroupCommit(Duration::from_millis(5))
    }
}

/// Why durability could not be confirmed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("flush failed: {0}")]
pub struct FlushError(pub String);

/// What makes writes durable: an fsync of the log (and the cleanup that allows).
pub type SyncFn = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Tracks written-but-unsynced writes and the flusher thread.
pub struct Durability {
    sync: SyncFn,
    policy: FlushPolicy,
    written: Arc<AtomicU64>,
    /// Highest write sequence known durable; `Err` once a sync failed.
    flushed: watch::Receiver<Result<u64, FlushError>>,
    wake: Option<crossbeam_channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Durability {
    /// Starts the flusher thread for group commit.
    pub fn start(sync: SyncFn, policy: FlushPolicy) -> std::io::Result<Self> {
        let written = Arc::new(AtomicU64::new(0));
        let (tx, flushed) = watch::channel(Ok(0));
        let (wake, woken) = crossbeam_channel::bounded::<()>(1);
        let thread = match policy {
            FlushPolicy::EveryWrite => None,
            FlushPolicy::GroupCommit(interval) => {
                let (sync, written) = (sync.clone(), written.clone());
                Some(
                    std::thread::Builder::new()
                        .name("solomon-flush".into())
                        .spawn(move || {
                            // Each wake-up syncs everything written so far, then waits out the interval
                            // so that writers arriving meanwhile share the next fsync.
                            while woken.recv().is_ok() {
                                let target = written.load(Ordering::SeqCst);
                                let result = sync().map(|()| target).map_err(FlushError);
                                let failed = result.is_err();
                                let _ = tx.send_replace(result);
                                if failed {
                                    return;
                                }
                                std::thread::sleep(interval);
                            }
                        })?,
                )
            }
        };
        Ok(Durability {
            sync,
            policy,
            written,
            flushed,
            wake: Some(wake),
            thread,
        })
    }

    /// Waits until everything written before this call is durable.
    pub async fn commit(&self) -> Result<(), FlushError> {
        let seq = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        match self.policy {
            FlushPolicy::EveryWrite => {
                let sync = self.sync.clone();
                tokio::task::spawn_blocking(move || sync())
                    .await
                    .map_err(|e| FlushError(e.to_string()))?
                    .map_err(FlushError)
            }
            FlushPolicy::GroupCommit(_) => {
                let mut rx = self.flushed.clone();
                loop {
                    match &*rx.borrow_and_update() {
                        Ok(done) if *done >= seq => return Ok(()),
                        Err(e) => return Err(e.clone()),
                        Ok(_) => {}
                    }
                    // A full channel means a sync is already due; it or the next covers us.
                    if let Some(w) = &self.wake {
                        let _ = w.try_send(());
                    }
                    rx.changed()
                        .await
                        .map_err(|_| FlushError("flusher stopped".into()))?;
                }
            }
        }
    }

    /// Syncs now (at shutdown).
    pub fn flush_now(&self) -> Result<(), FlushError> {
        (self.sync)().map_err(FlushError)
    }
}

impl Drop for Durability {
    fn drop(&mut self) {
        drop(self.wake.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = (self.sync)();
    }
}

//! The fleet snapshot, built once for every client that subscribes at about the same time.
//!
//! At 10,000 miners a snapshot is a few megabytes and some milliseconds of CPU; a hundred
//! dashboards opening together (after a daemon restart, say) used to build a hundred of them
//! on the runtime's threads and stall polling for seconds.

use axum::extract::ws::Utf8Bytes;
use std::sync::{Arc, Weak};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The last fleet snapshot, while some connection still holds it, and when its building
/// began. Held weakly: once every client that waited for it has sent it, a kept copy could
/// serve no one (a later subscriber needs a newer one) and only held a few MB at 10,000
/// miners.
#[derive(Debug, Default)]
pub struct SnapshotCache {
    last: Mutex<Option<(Instant, Weak<[Utf8Bytes]>)>>,
}

/// A snapshot's messages, in order.
pub type Parts = Arc<[Utf8Bytes]>;

impl SnapshotCache {
    /// A snapshot at least as new as `since`: the cached one if its building began at or after
    /// `since`, else a fresh one from `build` (run on a blocking thread). A client that takes
    /// every row published from `since` on (the moment it subscribed) therefore misses no
    /// change. Callers building at once wait for one build and share it.
    pub async fn get_or_build<F>(&self, since: Instant, build: F) -> Parts
    where
        F: FnOnce() -> Vec<String> + Send + 'static,
    {
        let mut last = self.last.lock().await;
        if let Some((at, snap)) = last.as_ref()
            && *at >= since
            && let Some(snap) = snap.upgrade()
        {
            return snap;
        }
        let at = Instant::now();
        let snap: Parts = match tokio::task::spawn_blocking(build).await {
            Ok(parts) => parts.into_iter().map(Utf8Bytes::from).collect(),
            Err(e) => {
                tracing::error!("building the fleet snapshot failed: {e}");
                return Arc::new([Utf8Bytes::from_static(
                    r#"{"type":"error","message":"the fleet snapshot could not be built"}"#,
                )]);
            }
        };
        *last = Some((at, Arc::downgrade(&snap)));
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn shares_a_build_only_with_clients_that_joined_before_it() {
        let cache = SnapshotCache::default();
        let builds = Arc::new(AtomicUsize::new(0));
        let build = |b: Arc<AtomicUsize>| {
            move || vec![format!("snapshot {}", b.fetch_add(1, Ordering::SeqCst))]
        };
        let joined = Instant::now();
        let a = cache.get_or_build(joined, build(builds.clone())).await;
        let b = cache.get_or_build(joined, build(builds.clone())).await;
        assert_eq!((a[0].as_str(), b[0].as_str()), ("snapshot 0", "snapshot 0"));
        // A client that joined after that build began must not get it: it could lack a change
        // published before the client joined.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let c = cache
            .get_or_build(Instant::now(), build(builds.clone()))
            .await;
        assert_eq!(c[0].as_str(), "snapshot 1");
        assert_eq!(builds.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn keeps_a_snapshot_only_while_a_client_holds_it() {
        let cache = SnapshotCache::default();
        let joined = Instant::now();
        let a = cache.get_or_build(joined, || vec!["one".into()]).await;
        let weak = Arc::downgrade(&a);
        drop(a);
        assert!(
            weak.upgrade().is_none(),
            "the cache keeps no copy of its own"
        );
        let b = cache.get_or_build(joined, || vec!["two".into()]).await;
        assert_eq!(
            b[0].as_str(),
            "two",
            "built again for a client that joined before"
        );
    }
}

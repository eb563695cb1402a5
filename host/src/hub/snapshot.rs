//! The fleet snapshot, built once for every client that subscribes at about the same time.
//!
//! At 10,000 miners a snapshot is a few megabytes and some milliseconds of CPU; a hundred
//! dashboards opening together (after a daemon restart, say) used to build a hundred of them
//! on the runtime's threads and stall polling for seconds.

use super::RowsMessage;
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
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

/// The fleet snapshot written part by part, each
/// `{"type": "snapshot", "topic": "fleet", "part": i, "parts": n, "miners": [...]}` with at
/// most `rows_per_part` rows (a client replaces its table once part `n - 1` is in). The number
/// of parts is known from the start, from the rows to come; an empty fleet still gets one.
#[derive(Debug)]
pub struct SnapshotParts {
    done: Vec<String>,
    current: RowsMessage,
    /// Rows offered to the current part, written or not: a row that failed to serialize
    /// still takes its place, so the parts come out as many as announced.
    offered: usize,
    rows_per_part: usize,
    parts: usize,
}

impl SnapshotParts {
    /// A snapshot of `rows` rows to come.
    pub fn new(rows: usize, rows_per_part: usize) -> Self {
        let rows_per_part = rows_per_part.max(1);
        let parts = rows.div_ceil(rows_per_part).max(1);
        SnapshotParts {
            done: Vec::with_capacity(parts),
            current: RowsMessage::new(&head(0, parts), 0),
            offered: 0,
            rows_per_part,
            parts,
        }
    }

    /// Adds the next row; one that does not serialize is left out, with a warning.
    pub fn push<T: Serialize + ?Sized>(&mut self, row: &T) {
        if self.offered == self.rows_per_part {
            // Each part is about as long as the last: make room for it at once.
            let room = self.done.last().map_or(0, String::len) + 1024;
            let next = RowsMessage::new(&head(self.done.len() + 1, self.parts), room);
            self.done
                .push(std::mem::replace(&mut self.current, next).finish());
            self.offered = 0;
        }
        self.offered += 1;
        if let Err(e) = self.current.push(row) {
            tracing::warn!("a fleet row did not serialize: {e}");
        }
    }

    /// The parts, in order.
    pub fn finish(mut self) -> Vec<String> {
        self.done.push(self.current.finish());
        self.done
    }
}

fn head(part: usize, parts: usize) -> String {
    format!(r#"{{"type":"snapshot","topic":"fleet","part":{part},"parts":{parts},"miners":["#)
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

    fn parsed(parts: Vec<String>) -> Vec<serde_json::Value> {
        parts
            .iter()
            .map(|p| serde_json::from_str(p).expect("JSON"))
            .collect()
    }

    #[test]
    fn a_snapshot_is_cut_into_numbered_parts_that_keep_every_row_in_order() {
        let mut snap = SnapshotParts::new(7, 3);
        for i in 0..7 {
            snap.push(&serde_json::json!({ "id": format!("m{i}") }));
        }
        let parts = parsed(snap.finish());
        assert_eq!(parts.len(), 3);
        let mut ids = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            assert_eq!(
                (&p["type"], &p["topic"]),
                (&"snapshot".into(), &"fleet".into())
            );
            assert_eq!(
                (p["part"].as_u64(), p["parts"].as_u64()),
                (Some(i as u64), Some(3))
            );
            let miners = p["miners"].as_array().expect("miners");
            assert!(miners.len() <= 3);
            ids.extend(
                miners
                    .iter()
                    .filter_map(|m| m["id"].as_str().map(String::from)),
            );
        }
        assert_eq!(ids, ["m0", "m1", "m2", "m3", "m4", "m5", "m6"]);

        let mut exact = SnapshotParts::new(6, 3);
        for i in 0..6 {
            exact.push(&serde_json::json!({ "id": i }));
        }
        assert_eq!(parsed(exact.finish()).len(), 2, "no empty part at the end");

        let empty = parsed(SnapshotParts::new(0, 3).finish());
        assert_eq!(empty.len(), 1, "an empty fleet still gets its snapshot");
        assert_eq!(
            (
                empty[0]["parts"].as_u64(),
                empty[0]["miners"].as_array().map(Vec::len)
            ),
            (Some(1), Some(0))
        );
    }

    #[test]
    fn a_row_that_fails_keeps_its_place_so_the_parts_are_as_announced() {
        let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let mut snap = SnapshotParts::new(4, 2);
        snap.push(&bad);
        snap.push(&bad);
        snap.push(&serde_json::json!({"id": "c"}));
        snap.push(&serde_json::json!({"id": "d"}));
        let parts = parsed(snap.finish());
        // A client waits for part `parts - 1`: it must come.
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1]["part"].as_u64(), Some(1));
        assert_eq!(parts[0]["miners"], serde_json::json!([]));
        assert_eq!(
            parts[1]["miners"],
            serde_json::json!([{"id": "c"}, {"id": "d"}])
        );
    }
}

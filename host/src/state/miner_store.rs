//! The one place live miner records live.
//!
//! Sharded `RwLock<FastMap>`s (parking_lot, synchronous): every method takes a lock, does a
//! bounded amount of work and returns, so a guard can never be held across an `.await` or a
//! plugin call: that is enforced by construction, since no guard leaves a method. Records are
//! immutable `Arc` snapshots: a reader clones a pointer under the read lock and never sees a
//! torn record; a writer copies-on-write (`Arc::make_mut`, in place when no reader holds the
//! old snapshot) and swaps. Each record carries a version that increases with every write, for
//! optimistic concurrency (`update_if_version`).

use super::lock_stats::{LockStats, LockStatsSnapshot};
use crate::hashing::{FastMap, FastState};
use crate::host_api::clock::unix_ms as now_ms;
use parking_lot::RwLock;
use solomon_plugin_sdk::MinerRecord;
use std::cell::Cell;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

const SHARDS: usize = 16;
/// One read in this many records its lock wait time (timing every read would double its cost).
const READ_SAMPLE: u32 = 64;

/// A record with its version and last-update time.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    /// The record.
    pub record: MinerRecord,
    /// 1 for the first write, +1 per write.
    pub version: u64,
    /// When the store last changed it, Unix ms.
    pub updated_ms: u64,
}

/// An immutable, consistent view of one miner.
pub type Snapshot = Arc<Versioned>;

/// Why an update was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No such miner.
    #[error("no miner {0}")]
    NotFound(String),
    /// Another write came first.
    #[error("miner {id} is at version {current}, not {expected}")]
    Conflict {
        /// The miner.
        id: String,
        /// The version the caller expected.
        expected: u64,
        /// The version now.
        current: u64,
    },
}

type Shard = RwLock<FastMap<String, Snapshot>>;

/// The live miner store.
pub struct MinerStore {
    shards: Box<[Shard]>,
    hasher: FastState,
    stats: LockStats,
}

impl Default for MinerStore {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    static READS: Cell<u32> = const { Cell::new(0) };
}

impl MinerStore {
    /// An empty store.
    pub fn new() -> Self {
        MinerStore {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(FastMap::default()))
                .collect(),
            hasher: FastState::default(),
            stats: LockStats::default(),
        }
    }

    fn shard(&self, id: &str) -> &Shard {
        &self.shards[(self.hasher.hash_one(id) as usize) % SHARDS]
    }

    fn read<R>(&self, shard: &Shard, f: impl FnOnce(&FastMap<String, Snapshot>) -> R) -> R {
        let sample = READS.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n % READ_SAMPLE == 0
        });
        if sample {
            let start = Instant::now();
            let guard = shard.read();
            self.stats.read_wait.record(start.elapsed());
            f(&guard)
        } else {
            f(&shard.read())
        }
    }

    fn write<R>(&self, shard: &Shard, f: impl FnOnce(&mut FastMap<String, Snapshot>) -> R) -> R {
        let start = Instant::now();
        let mut guard = shard.write();
        let acquired = Instant::now();
        self.stats.write_wait.record(acquired - start);
        let r = f(&mut guard);
        drop(guard);
        self.stats.write_hold.record(acquired.elapsed());
        r
    }

    /// The current snapshot of `id`.
    pub fn get(&self, id: &str) -> Option<Snapshot> {
        self.read(self.shard(id), |m| m.get(id).cloned())
    }

    /// Inserts or replaces the record under `record.id`; returns the new snapshot.
    pub fn set(&self, record: MinerRecord) -> Snapshot {
        let id = record.id.clone();
        let now = now_ms();
        self.write(self.shard(&id), |m| {
            let version = m.get(&id).map_or(0, |s| s.version) + 1;
            let snap = Arc::new(Versioned {
                record,
                version,
                updated_ms: now,
            });
            m.insert(id, snap.clone());
            snap
        })
    }

    /// Applies `f` to the record of `id` atomically (no other write interleaves) and returns
    /// the new snapshot. `f` runs under the write lock: keep it short, it cannot await.
    pub fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut MinerRecord),
    ) -> Result<Snapshot, StoreError> {
        self.update_inner(id, None, f)
    }

    /// Like [`update`](Self::update), only if the record is still at `expected` version.
    pub fn update_if_version(
        &self,
        id: &str,
        expected: u64,
        f: impl FnOnce(&mut MinerRecord),
    ) -> Result<Snapshot, StoreError> {
        self.update_inner(id, Some(expected), f)
    }

    fn update_inner(
        &self,
        id: &str,
        expected: Option<u64>,
        f: impl FnOnce(&mut MinerRecord),
    ) -> Result<Snapshot, StoreError> {
        let now = now_ms();
        self.write(self.shard(id), |m| {
            let entry = m
                .get_mut(id)
                .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
            if let Some(expected) = expected
                && entry.version != expected
            {
                return Err(StoreError::Conflict {
                    id: id.to_string(),
                    expected,
                    current: entry.version,
                });
            }
            // In place when no reader holds this snapshot; otherwise a copy, so readers keep
            // an untouched one.
            let v = Arc::make_mut(entry);
            f(&mut v.record);
            // The key is the identity: a closure cannot move the record to another id.
            v.record.id = id.to_string();
            v.version += 1;
            v.updated_ms = now;
            Ok(entry.clone())
        })
    }

    /// Removes `id`; returns its last snapshot.
    pub fn remove(&self, id: &str) -> Option<Snapshot> {
        self.write(self.shard(id), |m| m.remove(id))
    }

    /// Every snapshot, sorted by id.
    pub fn list(&self) -> Vec<Snapshot> {
        let mut all: Vec<Snapshot> = Vec::new();
        for s in self.shards.iter() {
            self.read(s, |m| all.extend(m.values().cloned()));
        }
        all.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        all
    }

    /// Number of miners.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lock wait and hold histograms.
    pub fn lock_stats(&self) -> LockStatsSnapshot {
        self.stats.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn rec(id: &str, n: u64) -> MinerRecord {
        MinerRecord {
            id: id.into(),
            shares_accepted: Some(n),
            ..Default::default()
        }
    }

    #[test]
    fn versions_and_conflicts() {
        let s = MinerStore::new();
        assert_eq!(s.set(rec("a", 1)).version, 1);
        let old = s.get("a").expect("present");
        let new = s
            .update("a", |r| r.shares_accepted = Some(2))
            .expect("updated");
        assert_eq!((new.version, new.record.shares_accepted), (2, Some(2)));
        assert_eq!(
            old.record.shares_accepted,
            Some(1),
            "a held snapshot never changes"
        );
        assert!(matches!(
            s.update_if_version("a", 1, |_| {}),
            Err(StoreError::Conflict { current: 2, .. })
        ));
        assert_eq!(
            s.update_if_version("a", 2, |r| r.id = "b".into())
                .expect("ok")
                .record
                .id,
            "a"
        );
        assert!(matches!(
            s.update("zz", |_| {}),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.remove("a").map(|x| x.version), Some(3));
        assert!(s.is_empty());
        assert!(s.lock_stats().write_hold.count >= 4);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(u8, u64),
        Update(u8, u64),
        UpdateIf(u8, u64, u64),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..4, any::<u64>()).prop_map(|(k, v)| Op::Set(k, v)),
            (0u8..4, any::<u64>()).prop_map(|(k, v)| Op::Update(k, v)),
            (0u8..4, 0u64..6, any::<u64>()).prop_map(|(k, e, v)| Op::UpdateIf(k, e, v)),
            (0u8..4).prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// The store behaves like a map of (version, value) under any sequence of operations.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec(op(), 0..60)) {
            let store = MinerStore::new();
            let mut model: HashMap<String, (u64, u64)> = HashMap::new();
            for op in ops {
                match op {
                    Op::Set(k, v) => {
                        let id = k.to_string();
                        let ver = model.get(&id).map_or(0, |e| e.0) + 1;
                        model.insert(id.clone(), (ver, v));
                        let snap = store.set(rec(&id, v));
                        prop_assert_eq!(snap.version, ver);
                    }
                    Op::Update(k, v) => {
                        let id = k.to_string();
                        let r = store.update(&id, |r| r.shares_accepted = Some(v));
                        match model.get_mut(&id) {
                            Some(e) => { *e = (e.0 + 1, v); prop_assert_eq!(r.map(|s| s.version).ok(), Some(e.0)); }
                            None => prop_assert!(r.is_err()),
                        }
                    }
                    Op::UpdateIf(k, expected, v) => {
                        let id = k.to_string();
                        let r = store.update_if_version(&id, expected, |r| r.shares_accepted = Some(v));
                        match model.get_mut(&id) {
                            Some(e) if e.0 == expected => { *e = (e.0 + 1, v); prop_assert!(r.is_ok()); }
                            Some(e) => {
                                let cur = e.0;
                                let conflict = matches!(r, Err(StoreError::Conflict { current, .. }) if current == cur);
                                prop_assert!(conflict, "expected a conflict at version {}", cur);
                            }
                            None => prop_assert!(matches!(r, Err(StoreError::NotFound(_)))),
                        }
                    }
                    Op::Remove(k) => {
                        let id = k.to_string();
                        prop_assert_eq!(store.remove(&id).is_some(), model.remove(&id).is_some());
                    }
                }
            }
            let listed: HashMap<String, (u64, u64)> = store.list().iter().map(|s| (s.record.id.clone(), (s.version, s.record.shares_accepted.unwrap_or(0)))).collect();
            prop_assert_eq!(listed, model);
        }
    }
}

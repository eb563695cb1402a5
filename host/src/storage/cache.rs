//! TTL + size-bounded cache of history queries (moka), with hit/miss/eviction counters.
//!
//! Invalidation is precise and O(1): each entry remembers the miner's [`Mark`] when it was
//! computed. It stays valid while no late sample arrived for the miner and either its range
//! ended before the newest sample at the time (new samples land after it) or no sample has
//! arrived since. So a chart of yesterday stays cached while today's samples stream in.

use super::Point;
use super::Resolution;
use super::metrics::Metric;
use super::series::Mark;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What identifies a query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueryKey {
    /// Series number of the miner.
    pub series: u32,
    /// The metric.
    pub metric: Metric,
    /// Range start, Unix ms.
    pub from: u64,
    /// Range end, Unix ms.
    pub to: u64,
    /// Resolution.
    pub res: Resolution,
}

#[derive(Clone)]
struct Entry {
    points: Arc<Vec<Point>>,
    mark: Mark,
}

/// Counters of the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Served from the cache.
    pub hits: u64,
    /// Computed (absent or expired).
    pub misses: u64,
    /// Found but stale (new samples landed in the range).
    pub invalidations: u64,
    /// Removed for size.
    pub evictions: u64,
    /// Entries now.
    pub entries: u64,
}

/// The query cache.
pub struct QueryCache {
    cache: Cache<QueryKey, Entry>,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    evictions: Arc<AtomicU64>,
}

impl QueryCache {
    /// Entries live `ttl`; the cache holds at most `max_points` points in all.
    pub fn new(ttl: Duration, max_points: u64) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let counter = evictions.clone();
        let cache = Cache::builder()
            .time_to_live(ttl)
            .max_capacity(max_points)
            .weigher(|_k: &QueryKey, v: &Entry| {
                u32::try_from(v.points.len()).unwrap_or(u32::MAX).max(1)
            })
            .eviction_listener(move |_k, _v, cause| {
                if cause == RemovalCause::Size {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        QueryCache {
            cache,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            evictions,
        }
    }

    fn valid(key: &QueryKey, cached: Mark, now: Mark) -> bool {
        cached.late == now.late && (cached.head_ts == now.head_ts || key.to < cached.head_ts)
    }

    /// The cached points for `key` if still valid, given the miner's current mark.
    pub fn get(&self, key: &QueryKey, now: Mark) -> Option<Arc<Vec<Point>>> {
        match self.cache.get(key) {
            Some(e) if Self::valid(key, e.mark, now) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(e.points)
            }
            Some(_) => {
                self.invalidations.fetch_add(1, Ordering::Relaxed);
                self.cache.invalidate(key);
                None
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Stores points computed at `mark`.
    pub fn put(&self, key: QueryKey, points: Arc<Vec<Point>>, mark: Mark) {
        self.cache.insert(key, Entry { points, mark });
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
        }
    }
}

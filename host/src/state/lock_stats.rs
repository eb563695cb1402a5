//! Lock wait and hold times as lock-free log2 histograms (for `/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets: < 2^0 ns .. < 2^31 ns (~2 s), then one overflow bucket.
const BUCKETS: usize = 33;

/// A histogram of durations with power-of-two nanosecond buckets.
#[derive(Debug)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// A copy of a [`Histogram`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HistogramSnapshot {
    /// `(upper bound in ns, count)` per bucket, non-cumulative; the last bound is `u64::MAX`.
    pub buckets: Vec<(u64, u64)>,
    /// Observations.
    pub count: u64,
    /// Sum of all observations, ns.
    pub sum_ns: u64,
}

impl HistogramSnapshot {
    /// The upper bound of the bucket holding quantile `q` (0..=1), ns.
    pub fn quantile_upper_ns(&self, q: f64) -> u64 {
        let target = (self.count as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (bound, c) in &self.buckets {
            seen += c;
            if seen >= target.max(1) {
                return *bound;
            }
        }
        u64::MAX
    }
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let bucket = (64 - ns.leading_zeros() as usize).min(BUCKETS - 1);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The current counts.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let buckets: Vec<(u64, u64)> = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    if i == BUCKETS - 1 {
                        u64::MAX
                    } else {
                        1u64 << i
                    },
                    c.load(Ordering::Relaxed),
                )
            })
            .collect();
        HistogramSnapshot {
            count: buckets.iter().map(|(_, c)| c).sum(),
            buckets,
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

/// Wait and hold times of the miner store's locks.
#[derive(Debug, Default)]
pub struct LockStats {
    /// Time to acquire the read lock (sampled: one read in 64).
    pub read_wait: Histogram,
    /// Time to acquire the write lock (every write).
    pub write_wait: Histogram,
    /// Time the write lock was held (every write).
    pub write_hold: Histogram,
}

/// A copy of [`LockStats`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LockStatsSnapshot {
    /// See [`LockStats::read_wait`].
    pub read_wait: HistogramSnapshot,
    /// See [`LockStats::write_wait`].
    pub write_wait: HistogramSnapshot,
    /// See [`LockStats::write_hold`].
    pub write_hold: HistogramSnapshot,
}

impl LockStats {
    /// The current histograms.
    pub fn snapshot(&self) -> LockStatsSnapshot {
        LockStatsSnapshot {
            read_wait: self.read_wait.snapshot(),
            write_wait: self.write_wait.snapshot(),
            write_hold: self.write_hold.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_by_power_of_two() {
        let h = Histogram::default();
        h.record(Duration::from_nanos(0));
        h.record(Duration::from_nanos(100));
        h.record(Duration::from_nanos(100));
        h.record(Duration::from_secs(10));
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets[0], (1, 1));
        assert_eq!(s.buckets[7], (128, 2), "100 ns lies in [64, 128)");
        assert_eq!(s.buckets[32].1, 1, "overflow bucket");
        assert_eq!(s.quantile_upper_ns(0.5), 128);
    }
}

//! Poll counters and latency, kept as prometheus-client metrics (atomic, cheap to update) and
//! registered into each scrape's registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How a poll ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `ok` or `error`.
    pub outcome: &'static str,
}

/// The manager's counters.
#[derive(Debug, Clone)]
pub struct PollStats {
    polls: Family<Outcome, Counter>,
    latency: Histogram,
}

impl Default for PollStats {
    fn default() -> Self {
        PollStats {
            polls: Family::default(),
            // 1 ms .. ~16 s.
            latency: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
        }
    }
}

impl PollStats {
    /// Counts a poll that took `seconds`.
    pub fn record(&self, ok: bool, seconds: f64) {
        let outcome = if ok { "ok" } else { "error" };
        self.polls.get_or_create(&Outcome { outcome }).inc();
        self.latency.observe(seconds);
    }

    /// Polls so far that ended with `ok` (true) or an error.
    pub fn count(&self, ok: bool) -> u64 {
        let outcome = if ok { "ok" } else { "error" };
        self.polls.get_or_create(&Outcome { outcome }).get()
    }

    /// Adds these metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "solomon_polls",
            "Miner polls by outcome",
            self.polls.clone(),
        );
        registry.register(
            "solomon_poll_duration_seconds",
            "Time of one poll: detection (when needed), request and driver",
            self.latency.clone(),
        );
    }
}

//! The daemon's in-memory state: the live miner store and what plugins read of it.

mod lock_stats;
mod miner_store;
mod store_view;

pub use lock_stats::{Histogram, HistogramSnapshot, LockStats, LockStatsSnapshot};
pub use miner_store::{MinerStore, Snapshot, StoreError, Versioned};
pub use store_view::StoreView;

//! What alert rules read through the `store` interface: the live store and the history.

use crate::host_api::store::StoreReader;
use crate::state::MinerStore;
use crate::storage::{Metric, Storage};
use solomon_plugin_sdk::MinerRecord;
use std::sync::Arc;

/// `store` backed by the live [`MinerStore`] and [`Storage`]'s history.
pub struct StoreView {
    miners: Arc<MinerStore>,
    storage: Arc<Storage>,
}

impl StoreView {
    /// Reads `miners` and `storage`.
    pub fn new(miners: Arc<MinerStore>, storage: Arc<Storage>) -> Self {
        StoreView { miners, storage }
    }
}

impl StoreReader for StoreView {
    fn get_miner(&self, id: &str) -> Option<MinerRecord> {
        self.miners.get(id).map(|s| s.record.clone())
    }

    fn list_miners(&self) -> Vec<String> {
        self.miners
            .list()
            .iter()
            .map(|s| s.record.id.clone())
            .collect()
    }

    fn history(
        &self,
        id: &str,
        metric: &str,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Vec<(u64, f64)> {
        let Some(metric) = Metric::parse(metric) else {
            return Vec::new();
        };
        let res = self.storage.resolution_for(from_ms, to_ms, None);
        match self
            .storage
            .history_uncached(id, metric, from_ms, to_ms, res)
        {
            Ok(points) => {
                // The newest points matter most to a rule.
                let skip = points.len().saturating_sub(limit);
                points[skip..].iter().map(|p| (p.ts_ms, p.avg)).collect()
            }
            Err(e) => {
                tracing::warn!(miner = id, "history read for a rule failed: {e}");
                Vec::new()
            }
        }
    }
}

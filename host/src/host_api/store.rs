//! `solomon:plugin/store`: read-only snapshots of miners and their history for alert rules.

use crate::runtime::bindings::store::Host;
use crate::runtime::bindings::types::MinerRecord as WitRecord;
use crate::runtime::record::to_wit;
use solomon_plugin_sdk::MinerRecord;
use std::sync::Arc;
use wasmtime::component::HasData;

/// Read access to the daemon's miner store and history. Each method returns a consistent
/// snapshot taken in one short critical section.
pub trait StoreReader: Send + Sync {
    /// The latest record of `id`.
    fn get_miner(&self, id: &str) -> Option<MinerRecord>;
    /// Every miner id, sorted.
    fn list_miners(&self) -> Vec<String>;
    /// (Unix ms, value) samples of `metric` for `id`, oldest first, at most `limit`.
    fn history(
        &self,
        id: &str,
        metric: &str,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Vec<(u64, f64)>;
}

/// A store with no miners, for tools that run rules outside the daemon.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyStore;

impl StoreReader for EmptyStore {
    fn get_miner(&self, _id: &str) -> Option<MinerRecord> {
        None
    }
    fn list_miners(&self) -> Vec<String> {
        Vec::new()
    }
    fn history(
        &self,
        _id: &str,
        _metric: &str,
        _from_ms: u64,
        _to_ms: u64,
        _limit: usize,
    ) -> Vec<(u64, f64)> {
        Vec::new()
    }
}

/// What the store interface sees.
pub struct StoreCtx {
    reader: Arc<dyn StoreReader>,
    max_samples: usize,
}

impl StoreCtx {
    /// Reads through `reader`, returning at most `max_samples` history points per call.
    pub fn new(reader: Arc<dyn StoreReader>, max_samples: usize) -> Self {
        StoreCtx {
            reader,
            max_samples,
        }
    }
}

/// `HasData` marker projecting the store onto [`StoreCtx`].
pub struct StoreApi;

impl HasData for StoreApi {
    type Data<'a> = &'a mut StoreCtx;
}

impl Host for StoreCtx {
    async fn get_miner(&mut self, id: String) -> Option<WitRecord> {
        self.reader.get_miner(&id).as_ref().map(to_wit)
    }
    async fn list_miners(&mut self) -> Vec<String> {
        self.reader.list_miners()
    }
    async fn history(
        &mut self,
        id: String,
        metric: String,
        from_ms: u64,
        to_ms: u64,
        limit: u32,
    ) -> Vec<(u64, f64)> {
        let limit = (limit as usize).min(self.max_samples);
        self.reader.history(&id, &metric, from_ms, to_ms, limit)
    }
}

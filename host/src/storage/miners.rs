//! Miners added at run time (through the API), persisted so they survive a restart.

use super::StorageError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How to reach and name one miner: stored in the database and written as a `[[miner]]`
/// table in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MinerConfig {
    /// Stable id (unique). In the config file it may be left out: the host is used.
    #[serde(default)]
    pub id: String,
    /// IP address or hostname.
    pub host: String,
    /// Web API port.
    #[serde(default = "default_http")]
    pub http_port: u16,
    /// CGMiner RPC port.
    #[serde(default = "default_rpc")]
    pub rpc_port: u16,
    /// A driver to use instead of auto-detection.
    #[serde(default)]
    pub driver: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Free-form labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_http() -> u16 {
    80
}
fn default_rpc() -> u16 {
    4028
}

impl MinerConfig {
    /// Why this config cannot be stored, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() || self.id.len() > 128 {
            return Err(format!("miner id {:?} must be 1-128 characters", self.id));
        }
        if self.host.trim().is_empty() || self.host.len() > 253 || self.host.contains(['/', ' ']) {
            return Err(format!(
                "miner {:?}: host {:?} is not an address",
                self.id, self.host
            ));
        }
        Ok(())
    }
}

/// The `miners` tree.
pub struct Miners {
    tree: sled::Tree,
}

impl Miners {
    /// Over `tree`.
    pub fn new(tree: sled::Tree) -> Self {
        Miners { tree }
    }

    /// Stores all of `miners` or, if any is invalid, none of them (one sled transaction),
    /// and flushes: a miner added through the API survives a crash right after.
    pub fn put_all(&self, miners: &[MinerConfig]) -> Result<(), StorageError> {
        self.tree
            .transaction(|tx| {
                for m in miners {
                    let json = serde_json::to_vec(m).map_err(|e| {
                        sled::transaction::ConflictableTransactionError::Abort(e.to_string())
                    })?;
                    tx.insert(m.id.as_bytes(), json)?;
                    // Validated after the write on purpose: a failure here must roll back the
                    // writes of this and every earlier miner in the batch.
                    m.validate()
                        .map_err(sled::transaction::ConflictableTransactionError::Abort)?;
                }
                Ok(())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Abort(msg) => StorageError::Invalid(msg),
                sled::transaction::TransactionError::Storage(e) => StorageError::Sled(e),
            })?;
        self.tree.flush()?;
        Ok(())
    }

    /// Removes a miner, durably; true if it existed.
    pub fn remove(&self, id: &str) -> Result<bool, StorageError> {
        let existed = self.tree.remove(id.as_bytes())?.is_some();
        self.tree.flush()?;
        Ok(existed)
    }

    /// One stored miner.
    pub fn get(&self, id: &str) -> Result<Option<MinerConfig>, StorageError> {
        match self.tree.get(id.as_bytes())? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| StorageError::Invalid(format!("stored miner {id:?}: {e}"))),
            None => Ok(None),
        }
    }

    /// Every stored miner, by id. Unreadable entries are skipped with a warning.
    pub fn list(&self) -> Result<Vec<MinerConfig>, StorageError> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (k, v) = item?;
            match serde_json::from_slice(&v) {
                Ok(m) => out.push(m),
                Err(e) => {
                    tracing::warn!(id = %String::from_utf8_lossy(&k), "skipping unreadable miner config: {e}")
                }
            }
        }
        Ok(out)
    }
}

//! Plugin state on sled: namespace `ns` key `k` is stored as `ns \0 k` in its own tree. Each
//! operation is one atomic sled call (insert, remove, compare-and-swap).

use crate::host_api::plugin_state::{BackendError, StateBackend};

/// The `plugin-state` backend of the daemon.
pub struct SledState {
    tree: sled::Tree,
}

impl SledState {
    /// Over `tree`.
    pub fn new(tree: sled::Tree) -> Self {
        SledState { tree }
    }
}

fn k(ns: &str, key: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(ns.len() + 1 + key.len());
    v.extend_from_slice(ns.as_bytes());
    v.push(0);
    v.extend_from_slice(key.as_bytes());
    v
}

fn prefix(ns: &str) -> Vec<u8> {
    k(ns, "")
}

fn err(e: sled::Error) -> BackendError {
    BackendError(e.to_string())
}

impl StateBackend for SledState {
    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.tree.get(k(ns, key)).map_err(err)?.map(|v| v.to_vec()))
    }
    fn set(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.tree.insert(k(ns, key), value).map_err(err)?;
        Ok(())
    }
    fn delete(&self, ns: &str, key: &str) -> Result<bool, BackendError> {
        Ok(self.tree.remove(k(ns, key)).map_err(err)?.is_some())
    }
    fn compare_and_swap(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, BackendError> {
        Ok(self
            .tree
            .compare_and_swap(k(ns, key), expected, new)
            .map_err(err)?
            .is_ok())
    }
    fn list_keys(
        &self,
        ns: &str,
        prefix_: &str,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        let skip = ns.len() + 1;
        self.tree
            .scan_prefix(k(ns, prefix_))
            .keys()
            .take(limit)
            .map(|r| {
                r.map(|key| String::from_utf8_lossy(&key[skip..]).into_owned())
                    .map_err(err)
            })
            .collect()
    }
    fn len(&self, ns: &str) -> Result<usize, BackendError> {
        Ok(self.tree.scan_prefix(prefix(ns)).count())
    }
}

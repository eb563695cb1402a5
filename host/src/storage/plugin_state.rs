//! Plugin state on sled: namespace `ns` key `k` is stored as `ns \0 k` in its own tree. Each
//! operation is one atomic sled call (insert, remove, compare-and-swap). The number of keys per
//! namespace (for the quota) is counted once, then kept in memory from what each call did:
//! scanning a namespace of 50,000 keys on every new key made a 10,000-miner fleet crawl.

use crate::host_api::plugin_state::{BackendError, StateBackend};

/// The `plugin-state` backend of the daemon.
pub struct SledState {
    tree: sled::Tree,
    counts: parking_lot::Mutex<std::collections::HashMap<String, usize>>,
}

impl SledState {
    /// Over `tree`.
    pub fn new(tree: sled::Tree) -> Self {
        SledState {
            tree,
            counts: Default::default(),
        }
    }

    /// Applies `delta` keys to a namespace's count, if it was counted already (an uncounted
    /// namespace is scanned when first asked).
    fn adjust(&self, ns: &str, delta: isize) {
        if let Some(n) = self.counts.lock().get_mut(ns) {
            *n = n.saturating_add_signed(delta);
        }
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
        if self.tree.insert(k(ns, key), value).map_err(err)?.is_none() {
            self.adjust(ns, 1);
        }
        Ok(())
    }
    fn delete(&self, ns: &str, key: &str) -> Result<bool, BackendError> {
        let gone = self.tree.remove(k(ns, key)).map_err(err)?.is_some();
        if gone {
            self.adjust(ns, -1);
        }
        Ok(gone)
    }
    fn compare_and_swap(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, BackendError> {
        let swapped = self
            .tree
            .compare_and_swap(k(ns, key), expected, new)
            .map_err(err)?
            .is_ok();
        if swapped {
            match (expected, new) {
                (None, Some(_)) => self.adjust(ns, 1),
                (Some(_), None) => self.adjust(ns, -1),
                _ => {}
            }
        }
        Ok(swapped)
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
        if let Some(n) = self.counts.lock().get(ns) {
            return Ok(*n);
        }
        // Counted outside the lock: writes racing the scan may leave it a few keys off, which a
        // quota (a bound, not an exact figure) tolerates.
        let n = self.tree.scan_prefix(prefix(ns)).count();
        Ok(*self.counts.lock().entry(ns.to_string()).or_insert(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_count_follows_what_each_call_did() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let s = SledState::new(db.open_tree("plugin_state").expect("tree"));
        s.set("a", "before-count", b"1").expect("set");
        assert_eq!(s.len("a").expect("len"), 1, "first asked: scanned");
        s.set("a", "k1", b"1").expect("set");
        s.set("a", "k1", b"2").expect("rewrite");
        assert_eq!(s.len("a").expect("len"), 2);
        assert!(
            s.compare_and_swap("a", "k2", None, Some(b"x"))
                .expect("cas")
        );
        assert!(
            !s.compare_and_swap("a", "k2", None, Some(b"y"))
                .expect("cas")
        );
        assert_eq!(s.len("a").expect("len"), 3);
        assert!(s.delete("a", "k1").expect("delete"));
        assert!(!s.delete("a", "k1").expect("delete"));
        assert!(
            s.compare_and_swap("a", "k2", Some(b"x"), None)
                .expect("cas")
        );
        assert_eq!(s.len("a").expect("len"), 1);
        assert_eq!(s.len("b").expect("len"), 0, "namespaces apart");
    }
}

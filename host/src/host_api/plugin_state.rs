//! `solomon:plugin/plugin-state`: a plugin-private key/value namespace.
//!
//! The host impl checks sizes and quotas and then makes exactly one call on a
//! [`StateBackend`]; the backend makes that call atomic (the in-memory backend under one short
//! mutex section, the sled backend with one atomic sled call and its in-memory mirror updated
//! under the same per-key lock).

use crate::runtime::bindings::plugin_state::{Host, StateError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use wasmtime::component::HasData;

/// Why a backend operation failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("plugin state storage failed: {0}")]
pub struct BackendError(pub String);

/// Where plugin state lives. Every method is one atomic operation within namespace `ns`.
pub trait StateBackend: Send + Sync {
    /// The value of `key`.
    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, BackendError>;
    /// Sets `key`.
    fn set(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), BackendError>;
    /// Deletes `key`; true if it existed.
    fn delete(&self, ns: &str, key: &str) -> Result<bool, BackendError>;
    /// Replaces `key` with `new` (none deletes) if its value equals `expected` (none: absent).
    fn compare_and_swap(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, BackendError>;
    /// Keys of `ns` starting with `prefix`, sorted, at most `limit`.
    fn list_keys(&self, ns: &str, prefix: &str, limit: usize) -> Result<Vec<String>, BackendError>;
    /// How many keys `ns` holds.
    fn len(&self, ns: &str) -> Result<usize, BackendError>;
}

/// Plugin state in memory: for tests and for `solomon plugin check`.
#[derive(Default)]
pub struct MemoryState {
    map: Mutex<BTreeMap<(String, String), Vec<u8>>>,
}

impl MemoryState {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Vec<u8>>> {
        // A panic while holding this lock cannot leave a half-written map (each operation is
        // a single insert/remove), so a poisoned lock is still consistent.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StateBackend for MemoryState {
    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.lock().get(&(ns.to_string(), key.to_string())).cloned())
    }
    fn set(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.lock()
            .insert((ns.to_string(), key.to_string()), value.to_vec());
        Ok(())
    }
    fn delete(&self, ns: &str, key: &str) -> Result<bool, BackendError> {
        Ok(self
            .lock()
            .remove(&(ns.to_string(), key.to_string()))
            .is_some())
    }
    fn compare_and_swap(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, BackendError> {
        let mut map = self.lock();
        let k = (ns.to_string(), key.to_string());
        if map.get(&k).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => map.insert(k, v.to_vec()),
            None => map.remove(&k),
        };
        Ok(true)
    }
    fn list_keys(&self, ns: &str, prefix: &str, limit: usize) -> Result<Vec<String>, BackendError> {
        let map = self.lock();
        let start = (ns.to_string(), prefix.to_string());
        Ok(map
            .range(start..)
            .take_while(|((n, k), _)| n == ns && k.starts_with(prefix))
            .take(limit)
            .map(|((_, k), _)| k.clone())
            .collect())
    }
    fn len(&self, ns: &str) -> Result<usize, BackendError> {
        Ok(self.lock().keys().filter(|(n, _)| n == ns).count())
    }
}

/// What the plugin-state interface sees: one namespace of one backend.
pub struct StateCtx {
    backend: Arc<dyn StateBackend>,
    namespace: String,
    max_key: usize,
    max_value: usize,
    max_keys: usize,
}

impl StateCtx {
    /// Namespace `namespace` (the plugin's name) of `backend`.
    pub fn new(
        backend: Arc<dyn StateBackend>,
        namespace: String,
        limits: &super::BoundaryLimits,
    ) -> Self {
        StateCtx {
            backend,
            namespace,
            max_key: limits.state_key_bytes,
            max_value: limits.state_value_bytes,
            max_keys: limits.state_keys,
        }
    }

    fn check(&self, key: &str, value: Option<&[u8]>) -> Result<(), StateError> {
        if key.len() > self.max_key {
            return Err(StateError::TooLarge(self.max_key as u32));
        }
        if value.is_some_and(|v| v.len() > self.max_value) {
            return Err(StateError::TooLarge(self.max_value as u32));
        }
        Ok(())
    }

    /// Refuses a new key once the namespace holds `max_keys`. An existing key is checked
    /// first: rewriting it (the common case) never needs the count.
    fn check_quota(&self, key: &str) -> Result<(), StateError> {
        if self
            .backend
            .get(&self.namespace, key)
            .map_err(storage)?
            .is_some()
        {
            return Ok(());
        }
        if self.backend.len(&self.namespace).map_err(storage)? >= self.max_keys {
            return Err(StateError::QuotaExceeded);
        }
        Ok(())
    }
}

fn storage(e: BackendError) -> StateError {
    StateError::Storage(e.0)
}

/// `HasData` marker projecting the store onto [`StateCtx`].
pub struct StateApi;

impl HasData for StateApi {
    type Data<'a> = &'a mut StateCtx;
}

impl Host for StateCtx {
    async fn get(&mut self, key: String) -> Option<Vec<u8>> {
        if key.len() > self.max_key {
            return None;
        }
        match self.backend.get(&self.namespace, &key) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(namespace = %self.namespace, "plugin state read failed: {e}");
                None
            }
        }
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), StateError> {
        self.check(&key, Some(&value))?;
        self.check_quota(&key)?;
        self.backend
            .set(&self.namespace, &key, &value)
            .map_err(storage)
    }

    async fn delete(&mut self, key: String) -> Result<bool, StateError> {
        self.check(&key, None)?;
        self.backend.delete(&self.namespace, &key).map_err(storage)
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StateError> {
        self.check(&key, new.as_deref())?;
        if new.is_some() && expected.is_none() {
            self.check_quota(&key)?;
        }
        self.backend
            .compare_and_swap(&self.namespace, &key, expected.as_deref(), new.as_deref())
            .map_err(storage)
    }

    async fn list_keys(&mut self, prefix: String, limit: u32) -> Vec<String> {
        if prefix.len() > self.max_key {
            return Vec::new();
        }
        let limit = (limit as usize).min(self.max_keys);
        self.backend
            .list_keys(&self.namespace, &prefix, limit)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_separate_and_cas_is_conditional() {
        let m = MemoryState::default();
        m.set("a", "k", b"1").expect("set");
        assert_eq!(m.get("b", "k").expect("get"), None);
        assert!(
            !m.compare_and_swap("a", "k", Some(b"2"), Some(b"3"))
                .expect("cas")
        );
        assert!(
            m.compare_and_swap("a", "k", Some(b"1"), Some(b"3"))
                .expect("cas")
        );
        assert_eq!(m.get("a", "k").expect("get").as_deref(), Some(&b"3"[..]));
        assert!(
            m.compare_and_swap("a", "new", None, Some(b"x"))
                .expect("cas on absent")
        );
        assert!(
            m.compare_and_swap("a", "new", Some(b"x"), None)
                .expect("cas delete")
        );
        m.set("a", "p/1", b"").expect("set");
        m.set("a", "p/2", b"").expect("set");
        m.set("b", "p/3", b"").expect("set");
        assert_eq!(
            m.list_keys("a", "p/", 10).expect("list"),
            vec!["p/1", "p/2"]
        );
        assert_eq!(m.list_keys("a", "p/", 1).expect("list"), vec!["p/1"]);
        assert_eq!(m.len("a").expect("len"), 3);
    }
}

//! Calls into the host that every plugin may make: logging, the clock and the plugin's private,
//! persistent key/value state. Each call is one atomic operation on the host side.

#[cfg(feature = "driver")]
use crate::driver::bindings::solomon::plugin as raw;
#[cfg(all(feature = "rule", not(feature = "driver")))]
use crate::rule::bindings::solomon::plugin as raw;

use raw::log::Level;

fn log(level: Level, message: &str) {
    raw::log::log(level, message);
}

/// Logs at debug level into the host's log, tagged with the plugin's name.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// The host's wall clock, Unix milliseconds (a fake clock under test).
pub fn now_ms() -> u64 {
    raw::clock::now_ms()
}

/// Why a state write failed. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The key or value exceeds the host's cap (bytes).
    #[error("key or value too large (cap {0} bytes)")]
    TooLarge(u32),
    /// The namespace is full.
    #[error("plugin state quota exceeded")]
    QuotaExceeded,
    /// The host's storage failed.
    #[error("host storage error: {0}")]
    Storage(String),
    /// A value could not be encoded or decoded as JSON.
    #[error("state value is not valid JSON: {0}")]
    Json(String),
}

impl From<raw::plugin_state::StateError> for StateError {
    fn from(e: raw::plugin_state::StateError) -> Self {
        match e {
            raw::plugin_state::StateError::TooLarge(n) => StateError::TooLarge(n),
            raw::plugin_state::StateError::QuotaExceeded => StateError::QuotaExceeded,
            raw::plugin_state::StateError::Storage(s) => StateError::Storage(s),
        }
    }
}

/// The plugin's private namespace. It survives restarts and hot reloads of the plugin.
pub mod state {
    use super::{StateError, raw};
    use serde::{Serialize, de::DeserializeOwned};

    /// The value under `key`.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        raw::plugin_state::get(key)
    }

    /// Sets `key` to `value`.
    pub fn set(key: &str, value: &[u8]) -> Result<(), StateError> {
        Ok(raw::plugin_state::set(key, value)?)
    }

    /// Deletes `key`; true if it existed.
    pub fn delete(key: &str) -> Result<bool, StateError> {
        Ok(raw::plugin_state::delete(key)?)
    }

    /// Atomically replaces the value of `key` if it still equals `expected` (`None`: absent).
    /// `new = None` deletes. True if the swap happened.
    pub fn compare_and_swap(
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StateError> {
        Ok(raw::plugin_state::compare_and_swap(key, expected, new)?)
    }

    /// Keys starting with `prefix`, sorted, at most `limit`.
    pub fn list_keys(prefix: &str, limit: u32) -> Vec<String> {
        raw::plugin_state::list_keys(prefix, limit)
    }

    /// The value under `key` decoded from JSON; `Ok(None)` if absent.
    pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, StateError> {
        match get(key) {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StateError::Json(e.to_string())),
        }
    }

    /// Stores `value` as JSON under `key`.
    pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StateError::Json(e.to_string()))?;
        set(key, &bytes)
    }

    /// Atomically applies `f` to the JSON value under `key`, retrying when another call raced it.
    /// Returns the new value; nothing is written when it equals the stored one.
    pub fn update_json<T, F>(key: &str, mut f: F) -> Result<T, StateError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> T,
    {
        loop {
            let old = get(key);
            let current = match &old {
                None => None,
                Some(b) => {
                    Some(serde_json::from_slice(b).map_err(|e| StateError::Json(e.to_string()))?)
                }
            };
            let new = f(current);
            let bytes = serde_json::to_vec(&new).map_err(|e| StateError::Json(e.to_string()))?;
            // Unchanged (a streak staying at 0, a best not beaten): no write. Most calls are
            // these, and a write per event per miner is what a large fleet cannot afford.
            if old.as_deref() == Some(bytes.as_slice()) {
                return Ok(new);
            }
            if compare_and_swap(key, old.as_deref(), Some(&bytes))? {
                return Ok(new);
            }
        }
    }
}

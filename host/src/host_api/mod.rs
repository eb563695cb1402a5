//! The host side of each WIT interface plugins import, one file per interface.
//!
//! Each interface's `Host` impl sees only its own context struct (a `HasData` projection, the
//! wasmtime-wasi pattern), so an interface cannot reach state it was not given. Every function
//! is one short synchronous operation on shared state: no lock is held across an `.await`, so no
//! plugin can hold a lock, deadlock the host or see a half-written record. Sizes of everything a
//! guest sends are capped before any work is done.

pub mod clock;
pub mod log;
pub mod miner_io;
pub mod plugin_state;
pub mod store;

/// Caps on what crosses the plugin boundary.
#[derive(Debug, Clone)]
pub struct BoundaryLimits {
    /// Longest log message kept (longer ones are truncated).
    pub log_message_bytes: usize,
    /// Log lines a plugin may write per call before the rest are dropped.
    pub log_lines_per_call: u32,
    /// Longest plugin-state key.
    pub state_key_bytes: usize,
    /// Largest plugin-state value.
    pub state_value_bytes: usize,
    /// Keys one plugin may hold. Rules keep a few keys per miner, so this bounds the fleet a
    /// rule can follow (100,000: ten per miner at 10,000 miners); with the value size it bounds
    /// the disk a hostile plugin can fill (1.6 GB).
    pub state_keys: usize,
    /// Largest HTTP request body or TCP payload a driver may send.
    pub request_bytes: usize,
    /// Largest HTTP body or TCP reply read from a miner.
    pub response_bytes: usize,
    /// Default timeout of one miner request, when the plugin passes 0.
    pub io_timeout_ms: u32,
    /// Longest timeout a plugin may ask for.
    pub io_timeout_max_ms: u32,
}

impl Default for BoundaryLimits {
    fn default() -> Self {
        BoundaryLimits {
            log_message_bytes: 4096,
            log_lines_per_call: 200,
            state_key_bytes: 512,
            state_value_bytes: 16 * 1024,
            state_keys: 100_000,
            request_bytes: 64 * 1024,
            response_bytes: 4 * 1024 * 1024,
            io_timeout_ms: 5_000,
            io_timeout_max_ms: 30_000,
        }
    }
}

/// Truncates `s` to at most `max` bytes on a char boundary.
pub(crate) fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
}

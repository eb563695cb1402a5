//! Limits and tunables of the plugin runtime.

use super::compiler::CompileIn;
use crate::host_api::BoundaryLimits;
use std::path::PathBuf;
use std::time::Duration;

/// How plugins are sandboxed and supervised.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Cap on each linear memory of an instance.
    pub memory_limit_bytes: usize,
    /// Guest execution time one call may use (time waiting on the host's I/O is not counted).
    pub cpu_budget: Duration,
    /// Wall-clock cap on one call, I/O included; a backstop behind the per-request timeouts.
    pub call_timeout: Duration,
    /// Epoch tick: the granularity of `cpu_budget` and how often a busy guest yields.
    pub epoch_tick: Duration,
    /// First restart delay after a trap; doubles per consecutive failure.
    pub restart_backoff_base: Duration,
    /// Longest restart delay.
    pub restart_backoff_max: Duration,
    /// Instances (each with its own Store) serving one alert-rule plugin concurrently. The
    /// alert engine's two tasks send rules their events in batches, so two keep them busy.
    pub instances_per_plugin: usize,
    /// Instances serving one driver plugin concurrently. A driver call spends most of its time
    /// waiting on a miner, so its instances bound how many polls of that family are in flight:
    /// with two, polling at 10,000 miners fell to a quarter of its rate whenever the runtime
    /// was busy with something else (100 WebSocket clients). An instance idle since start
    /// costs nothing (it is made on first use); a used one about 0.2 MB.
    pub instances_per_driver: usize,
    /// Calls that may wait for a plugin's instances before callers are slowed down.
    pub queue_depth: usize,
    /// Where precompiled components are cached (`None`: compile every time). Artifacts are
    /// loaded as native code, so this folder must be as trusted as the binary itself.
    pub cache_dir: Option<PathBuf>,
    /// Where Cranelift runs on a cache miss: in this process, or in a child process of its
    /// own (the daemon's choice, see [`super::compiler`]).
    pub compile_in: CompileIn,
    /// Longest a compiler child may run before it is stopped and the load fails.
    pub compile_timeout: Duration,
    /// Largest `.wasm` file accepted.
    pub max_component_bytes: usize,
    /// Largest result (a miner record, measured by its strings and lists) a driver may return.
    pub max_result_bytes: usize,
    /// Caps on what crosses the boundary in host calls.
    pub limits: BoundaryLimits,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            memory_limit_bytes: 64 * 1024 * 1024,
            cpu_budget: Duration::from_millis(500),
            call_timeout: Duration::from_secs(30),
            epoch_tick: Duration::from_millis(10),
            restart_backoff_base: Duration::from_millis(500),
            restart_backoff_max: Duration::from_secs(60),
            instances_per_plugin: 2,
            instances_per_driver: 4,
            queue_depth: 1024,
            cache_dir: None,
            compile_in: CompileIn::ThisProcess,
            compile_timeout: Duration::from_secs(120),
            max_component_bytes: 32 * 1024 * 1024,
            max_result_bytes: 1024 * 1024,
            limits: BoundaryLimits::default(),
        }
    }
}

impl RuntimeConfig {
    /// The delay before restart number `failures` (1-based).
    pub fn backoff(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(20);
        self.restart_backoff_base
            .saturating_mul(1u32 << shift)
            .min(self.restart_backoff_max)
    }
}

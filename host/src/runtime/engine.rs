//! The one wasmtime `Engine` and the thread that ticks its epoch.

use super::RuntimeConfig;
use std::thread::JoinHandle;
use wasmtime::{Config, Engine};

/// Builds the engine every plugin shares: epoch interruption for CPU limits, Cranelift.
pub fn new_engine() -> wasmtime::Result<Engine> {
    let mut cfg = Config::new();
    cfg.epoch_interruption(true);
    cfg.wasm_component_model(true);
    // `SOLOMON_PERFMAP=1` names JIT-compiled guest functions for `perf report`
    // (/tmp/perf-PID.map); off by default because it writes a file per process.
    if std::env::var_os("SOLOMON_PERFMAP").is_some_and(|v| v == "1") {
        cfg.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&cfg)
}

/// Increments the engine's epoch from a dedicated OS thread, so guests that starve the async
/// executor cannot also starve their own interruption. Stops when dropped or when the engine
/// is gone.
pub struct EpochTicker {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking every `config.epoch_tick`.
    pub fn start(engine: &Engine, config: &RuntimeConfig) -> std::io::Result<Self> {
        let weak = engine.weak();
        let tick = config.epoch_tick;
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("solomon-epoch".into())
            .spawn(move || {
                // `recv_timeout` doubles as the sleep and the stop signal.
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(tick)
                {
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                }
            })?;
        Ok(EpochTicker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! The data of one Store: the sandbox (WASI deny-all, memory limits) and one context per host
//! interface. This is the one place the sandbox is set up.

use super::{HostServices, RuntimeConfig};
use crate::host_api::{
    clock::ClockCtx, log::LogCtx, miner_io::MinerIoCtx, plugin_state::StateCtx, store::StoreCtx,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Bytes of guest stderr kept, so a panic message can be reported with the trap.
const STDERR_CAPTURE: usize = 16 * 1024;

/// Everything one plugin instance's Store holds.
pub struct PluginCtx {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) log: LogCtx,
    pub(crate) clock: ClockCtx,
    pub(crate) state: StateCtx,
    pub(crate) miner_io: MinerIoCtx,
    pub(crate) store: StoreCtx,
    pub(crate) stderr: MemoryOutputPipe,
    /// Start of the current call (or instantiation), for the CPU budget.
    pub(crate) call_started: Instant,
    pub(crate) cpu_budget: Duration,
    /// Epoch ticks that found the guest running in the current call.
    pub(crate) ticks_running: u32,
    /// The epoch tick.
    pub(crate) tick: Duration,
}

impl PluginCtx {
    /// A fresh context for plugin `label` (`name@version`), whose state namespace is `namespace`.
    pub fn new(
        label: Arc<str>,
        namespace: String,
        config: &RuntimeConfig,
        services: &HostServices,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        // Deny-all WASI: no preopened directories, no sockets, no name lookup, no env, no args,
        // stdin closed, stdout discarded. wasmtime-wasi 48 already defaults to this; saying it
        // here keeps the sandbox explicit if the defaults ever move.
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .stderr(stderr.clone())
            .build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(config.memory_limit_bytes)
            .memories(4)
            .tables(16)
            .instances(64)
            .table_elements(100_000)
            .trap_on_grow_failure(true)
            .build();
        PluginCtx {
            wasi,
            table: ResourceTable::new(),
            limits,
            log: LogCtx::new(label, config.limits.log_message_bytes),
            clock: ClockCtx(services.clock.clone()),
            state: StateCtx::new(services.state.clone(), namespace, &config.limits),
            miner_io: MinerIoCtx::new(config.limits.clone(), services.connections.clone()),
            store: StoreCtx::new(services.store.clone(), 100_000),
            stderr,
            call_started: Instant::now(),
            cpu_budget: config.cpu_budget,
            ticks_running: 0,
            tick: config.epoch_tick,
        }
    }

    /// Resets the per-call budgets before a call.
    pub(crate) fn begin_call(&mut self, log_lines: u32) {
        self.call_started = Instant::now();
        self.ticks_running = 0;
        self.miner_io.io_time = Duration::ZERO;
        self.log.budget = log_lines;
        self.log.dropped = 0;
    }

    /// Guest execution time of the current call so far (wall time minus host I/O waits).
    pub(crate) fn guest_time(&self) -> Duration {
        self.call_started
            .elapsed()
            .saturating_sub(self.miner_io.io_time)
    }

    /// Whether the current call has used up its CPU budget. Wall time minus I/O alone is not
    /// enough: on a saturated machine a call that waits for a core, or for the executor after
    /// a yield, would be charged for the wait (the 10,000-miner benchmark saw a healthy driver
    /// killed that way). So the call must also have been found running at enough epoch ticks;
    /// a wait costs at most one tick.
    pub(crate) fn over_budget(&mut self) -> bool {
        self.ticks_running = self.ticks_running.saturating_add(1);
        let ticked = self.tick.saturating_mul(self.ticks_running);
        self.guest_time() > self.cpu_budget && ticked > self.cpu_budget
    }

    /// The last lines the guest wrote to stderr (a panic message, usually).
    pub(crate) fn stderr_tail(&self) -> String {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        tail[tail.len().saturating_sub(3)..].join(" | ")
    }
}

impl WasiView for PluginCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_that_only_waited_is_not_over_its_budget() {
        let config = RuntimeConfig {
            cpu_budget: Duration::from_millis(50),
            epoch_tick: Duration::from_millis(10),
            ..Default::default()
        };
        let mut ctx = PluginCtx::new("t@0".into(), "t".into(), &config, &HostServices::default());
        ctx.begin_call(10);
        // A second of wall time, as on a saturated machine, but found running at one tick.
        ctx.call_started = Instant::now() - Duration::from_secs(1);
        assert!(!ctx.over_budget(), "a wait is not guest time");
        // A guest really running: found at every tick until the budget is spent.
        let over: Vec<bool> = (0..5).map(|_| ctx.over_budget()).collect();
        assert_eq!(over, [false, false, false, false, true]);
        // A fast call on a quiet machine is never over, however many ticks.
        ctx.begin_call(10);
        assert!(!(0..100).any(|_| ctx.over_budget()));
    }
}

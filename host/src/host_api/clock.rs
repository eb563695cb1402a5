//! `solomon:plugin/clock`: the host's clock, replaceable by a fake one in tests.

use crate::runtime::bindings::clock::Host;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::HasData;

/// A source of wall-clock time in Unix milliseconds.
pub trait Clock: Send + Sync {
    /// Now, Unix ms.
    fn now_ms(&self) -> u64;
}

/// Now, Unix ms, from the system clock (0 if it is set before 1970).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        unix_ms()
    }
}

/// A clock that only moves when told to, for tests of time-dependent behaviour.
#[derive(Debug, Default)]
pub struct FakeClock(AtomicU64);

impl FakeClock {
    /// A fake clock at `ms`.
    pub fn new(ms: u64) -> Self {
        FakeClock(AtomicU64::new(ms))
    }
    /// Moves the clock forward.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    /// Sets the clock.
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the clock interface sees.
pub struct ClockCtx(pub Arc<dyn Clock>);

/// `HasData` marker projecting the store onto [`ClockCtx`].
pub struct ClockApi;

impl HasData for ClockApi {
    type Data<'a> = &'a mut ClockCtx;
}

impl Host for ClockCtx {
    async fn now_ms(&mut self) -> u64 {
        self.0.now_ms()
    }
}

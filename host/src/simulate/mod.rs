//! A simulated fleet on loopback: AxeOS miners over HTTP and CGMiner-family miners over TCP,
//! each on its own 127.x.y.z address (so `solomon scan` of a /24 finds them like a real LAN),
//! with scenario switches for the troubles real fleets have. It feeds the demo and the tests.
//!
//! Replies are built from the captured samples in `tests/fixtures/` with live values:
//! hashrate noise, rising shares, uptime, and per-scenario changes.

mod axeos;
mod cgminer;
mod miner;
mod server;

pub use miner::{Kind, Scenario, SimMiner};
pub use server::{Fleet, FleetConfig};

//! Solomon driver for AxeOS / ESP-Miner (Bitaxe Max, Ultra, Supra, Gamma, Hex, SupraHex,
//! GammaDuo, GammaTurbo) and the NerdQAxe / NerdAxe forks, AxeOS v2.0 to current.
//!
//! One `GET /api/system/info` per poll and never two requests at once: ESP32 devices are fragile.

mod identify;
mod models;
#[doc(hidden)]
pub mod parse;

use solomon_plugin_sdk::driver::{
    Driver, Identification, PollError, Probe, Target, http_get_body, parse_json,
};
use solomon_plugin_sdk::{MinerRecord, host};

struct AxeOs;

impl Driver for AxeOs {
    fn description() -> &'static str {
        "AxeOS / ESP-Miner (Bitaxe) and NerdQAxe over HTTP"
    }

    fn identify(probe: &Probe) -> Option<Identification> {
        identify::identify(probe)
    }

    fn poll(target: &Target) -> Result<MinerRecord, PollError> {
        let body = http_get_body(target, "/api/system/info")?;
        let mut record = parse::system_info(&parse_json(&body)?, &target.host)?;
        record.ts_ms = host::now_ms();
        Ok(record)
    }
}

solomon_plugin_sdk::register_driver!(AxeOs);

//! Solomon driver for miners speaking the CGMiner RPC on TCP 4028: stock Antminer (bmminer),
//! Braiins OS, LuxOS, Whatsminer (btminer read API), Avalon, and any other cgminer as a
//! generic fallback. Read-only.
//!
//! One poll asks `summary+pools+stats` as one multi-command, falling back to one connection
//! per command on firmware that cannot join them (stock S19). `version` and `devdetails`, which
//! do not change while the miner runs, are asked with them every ten minutes and reused between.

mod avalon;
mod family;
#[doc(hidden)]
pub mod parse;

use solomon_plugin_sdk::driver::{Driver, Identification, PollError, Probe, Target, cgminer_read};
use solomon_plugin_sdk::{MinerRecord, host};

struct Cgminer;

/// Commands asked at every poll.
const LIVE: &[&str] = &["summary", "pools", "stats"];

/// Commands whose replies are reused for a while.
const STATIC: &[&str] = &["version", "devdetails"];

impl Driver for Cgminer {
    fn description() -> &'static str {
        "CGMiner RPC (4028): Antminer, Braiins OS, LuxOS, Whatsminer, Avalon, generic cgminer"
    }

    fn identify(probe: &Probe) -> Option<Identification> {
        family::identify(probe)
    }

    fn poll(target: &Target) -> Result<MinerRecord, PollError> {
        let mut record = cgminer_read(target, LIVE, STATIC, |replies| {
            if !replies.contains_key("summary") {
                return Err(PollError::Malformed("the miner answered no summary".into()));
            }
            parse::record(replies, &target.host)
        })??;
        record.ts_ms = host::now_ms();
        Ok(record)
    }
}

solomon_plugin_sdk::register_driver!(Cgminer);

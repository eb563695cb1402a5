//! Solomon driver for miners speaking the CGMiner RPC on TCP 4028: stock Antminer (bmminer),
//! Braiins OS, LuxOS, Whatsminer (btminer read API), Avalon, and any other cgminer as a
//! generic fallback. Read-only.
//!
//! One poll asks `summary+pools+stats` as one multi-command, falling back to one connection
//! per command on firmware that cannot join them (stock S19). `version` and `devdetails`, which
//! do not change while the miner runs, are asked with them every ten minutes and reused between.
//! On a connection per command, `summary` too is reused while `pools` and `stats` show nothing
//! it alone would tell (see [`kept_summary`]): two connections per poll, not three.

mod avalon;
mod family;
#[cfg(test)]
mod fixtures;
mod kept_summary;
#[doc(hidden)]
pub mod parse;

use solomon_plugin_sdk::driver::{
    Driver, Identification, Lazy, Plan, PollError, Probe, Target, cgminer_read_plan,
};
use solomon_plugin_sdk::{MinerRecord, host};

struct Cgminer;

/// What one poll asks.
const PLAN: Plan<'static> = Plan {
    live: &["pools", "stats"],
    statics: &["version", "devdetails"],
    lazy: Some(Lazy {
        command: "summary",
        // Its averages and error rates are the only figures that go stale, and not for long.
        max_age_ms: 60_000,
        changed: kept_summary::changed,
    }),
};

impl Driver for Cgminer {
    fn description() -> &'static str {
        "CGMiner RPC (4028): Antminer, Braiins OS, LuxOS, Whatsminer, Avalon, generic cgminer"
    }

    fn identify(probe: &Probe) -> Option<Identification> {
        family::identify(probe)
    }

    fn poll(target: &Target) -> Result<MinerRecord, PollError> {
        let mut record = cgminer_read_plan(target, &PLAN, |replies, summary_kept| {
            if !replies.contains_key("summary") {
                return Err(PollError::Malformed("the miner answered no summary".into()));
            }
            let mut r = parse::record(replies, &target.host)?;
            if summary_kept {
                kept_summary::refresh(replies, &mut r);
            }
            Ok(r)
        })??;
        record.ts_ms = host::now_ms();
        Ok(record)
    }
}

solomon_plugin_sdk::register_driver!(Cgminer);

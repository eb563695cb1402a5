//! The compact form of a miner sent on the `fleet` topic: what a fleet table shows, about a
//! fifth of the full record, so a dashboard on a 10,000-miner fleet is not fed 15 MB
//! snapshots. The full record goes to `miner:<id>` subscribers.

use crate::state::Snapshot;
use serde::Serialize;
use solomon_plugin_sdk::MinerState;
use std::collections::BTreeMap;

/// One miner's row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetRow<'a> {
    /// Miner id.
    pub id: &'a str,
    /// Display name (snapshots only: it comes from the config, not the poll).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Labels (snapshots only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// Store version: a row older than one already shown is stale.
    pub version: u64,
    /// Store write time, Unix ms.
    pub updated_ms: u64,
    /// Poll time, Unix ms ("last seen" when hashing).
    pub ts_ms: u64,
    /// `hashing`, `idle`, `faulted`, `offline`.
    pub state: MinerState,
    /// Make.
    pub make: &'a str,
    /// Model.
    pub model: Option<&'a str>,
    /// Firmware version.
    pub firmware_version: Option<&'a str>,
    /// H/s.
    pub hashrate_hs: Option<f64>,
    /// H/s.
    pub expected_hashrate_hs: Option<f64>,
    /// °C.
    pub temp_c: Option<f64>,
    /// °C.
    pub vr_temp_c: Option<f64>,
    /// W.
    pub power_w: Option<f64>,
    /// J/TH.
    pub efficiency_j_th: Option<f64>,
    /// All-time best difficulty.
    pub best_diff: Option<f64>,
    /// Best difficulty since boot.
    pub best_session_diff: Option<f64>,
    /// Accepted shares.
    pub shares_accepted: Option<u64>,
    /// Rejected shares.
    pub shares_rejected: Option<u64>,
    /// Seconds since boot.
    pub uptime_s: Option<u64>,
    /// Blocks found.
    pub blocks_found: Option<u64>,
    /// Errors in the record.
    pub errors: usize,
}

impl<'a> FleetRow<'a> {
    /// The row of a snapshot.
    pub fn of(s: &'a Snapshot) -> Self {
        let r = &s.record;
        FleetRow {
            id: &r.id,
            name: None,
            labels: None,
            version: s.version,
            updated_ms: s.updated_ms,
            ts_ms: r.ts_ms,
            state: r.state,
            make: &r.make,
            model: r.model.as_deref(),
            firmware_version: r.firmware_version.as_deref(),
            hashrate_hs: r.hashrate_hs,
            expected_hashrate_hs: r.expected_hashrate_hs,
            temp_c: r.temp_c,
            vr_temp_c: r.vr_temp_c,
            power_w: r.power_w,
            efficiency_j_th: r.efficiency_j_th,
            best_diff: r.best_diff,
            best_session_diff: r.best_session_diff,
            shares_accepted: r.shares_accepted,
            shares_rejected: r.shares_rejected,
            uptime_s: r.uptime_s,
            blocks_found: r.blocks_found,
            errors: r.errors.len(),
        }
    }
}

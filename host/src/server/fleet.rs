//! `/api/v1/fleet`: the whole fleet in one object: how many miners in each state, total and
//! expected hashrate, power, efficiency, shares, the best difficulty seen and blocks found.

use super::AppState;
use axum::extract::State;
use axum::response::Json;
use serde::Serialize;
use solomon_plugin_sdk::{MinerRecord, MinerState};
use std::collections::BTreeMap;

/// The fleet at a glance.
#[derive(Debug, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FleetSummary {
    /// Miners with a record.
    pub miners: usize,
    /// Miners per state (`hashing`, `idle`, `faulted`, `offline`).
    pub by_state: BTreeMap<String, usize>,
    /// Sum of current hashrates, H/s.
    pub hashrate_hs: f64,
    /// Sum of expected hashrates where known, H/s.
    pub expected_hashrate_hs: f64,
    /// Sum of power draws where known, W.
    pub power_w: f64,
    /// Fleet efficiency, J/TH, over the miners that report both power and hashrate.
    pub efficiency_j_th: Option<f64>,
    /// Accepted shares across the fleet.
    pub shares_accepted: u64,
    /// Rejected shares across the fleet.
    pub shares_rejected: u64,
    /// Highest all-time best difficulty any miner reports.
    pub best_diff: Option<f64>,
    /// The miner that reported it.
    pub best_diff_miner: Option<String>,
    /// Blocks found, as the miners report them.
    pub blocks_found: u64,
    /// Network difficulty as the newest record reports it.
    pub network_difficulty: Option<f64>,
    /// Expected seconds to a block at the current hashrate and network difficulty
    /// (difficulty x 2^32 / hashrate).
    pub expected_block_s: Option<f64>,
}

impl FleetSummary {
    /// Sums `records`.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a MinerRecord>) -> Self {
        let mut s = FleetSummary::default();
        let (mut eff_power, mut eff_hash) = (0.0, 0.0);
        let mut newest_net = (0u64, None);
        for r in records {
            s.miners += 1;
            *s.by_state.entry(r.state.as_str().to_string()).or_default() += 1;
            let live = r.state != MinerState::Offline;
            let hash = r.hashrate_hs.filter(|h| live && h.is_finite() && *h > 0.0);
            s.hashrate_hs += hash.unwrap_or(0.0);
            s.expected_hashrate_hs += r.expected_hashrate_hs.unwrap_or(0.0);
            let power = r.power_w.filter(|p| live && p.is_finite() && *p > 0.0);
            s.power_w += power.unwrap_or(0.0);
            if let (Some(p), Some(h)) = (power, hash) {
                eff_power += p;
                eff_hash += h;
            }
            s.shares_accepted += r.shares_accepted.unwrap_or(0);
            s.shares_rejected += r.shares_rejected.unwrap_or(0);
            s.blocks_found += r.blocks_found.unwrap_or(0);
            if let Some(b) = r.best_diff
                && s.best_diff.is_none_or(|cur| b > cur)
            {
                s.best_diff = Some(b);
                s.best_diff_miner = Some(r.id.clone());
            }
            if r.network_difficulty.is_some() && r.ts_ms >= newest_net.0 {
                newest_net = (r.ts_ms, r.network_difficulty);
            }
        }
        if eff_hash > 0.0 {
            s.efficiency_j_th = Some(eff_power / (eff_hash / 1e12));
        }
        s.network_difficulty = newest_net.1;
        if let Some(d) = s.network_difficulty
            && s.hashrate_hs > 0.0
        {
            s.expected_block_s = Some(d * 4_294_967_296.0 / s.hashrate_hs);
        }
        s
    }
}

/// The fleet summary.
#[utoipa::path(get, path = "/api/v1/fleet", operation_id = "fleet_summary", tag = "fleet",
    responses((status = 200, body = FleetSummary)))]
pub async fn summary(State(state): State<AppState>) -> Json<FleetSummary> {
    let snaps = state.miners().list();
    Json(FleetSummary::of(snaps.iter().map(|s| &s.record)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_live_miners_and_skips_offline_hashrate() {
        let a = MinerRecord {
            id: "a".into(),
            state: MinerState::Hashing,
            hashrate_hs: Some(1e12),
            power_w: Some(15.0),
            best_diff: Some(5e9),
            network_difficulty: Some(1e14),
            ts_ms: 10,
            ..Default::default()
        };
        let b = MinerRecord {
            id: "b".into(),
            state: MinerState::Offline,
            hashrate_hs: Some(9e12),
            power_w: Some(100.0),
            best_diff: Some(7e9),
            ..Default::default()
        };
        let s = FleetSummary::of([&a, &b]);
        assert_eq!(s.miners, 2);
        assert_eq!(s.hashrate_hs, 1e12);
        assert_eq!(s.power_w, 15.0);
        assert_eq!(s.efficiency_j_th, Some(15.0));
        assert_eq!(s.best_diff_miner.as_deref(), Some("b"));
        assert_eq!(s.by_state.get("offline"), Some(&1));
        let expect = 1e14 * 4_294_967_296.0 / 1e12;
        assert_eq!(s.expected_block_s, Some(expect));
    }
}

//! The normalized miner record (`miner-record.md`): what every driver returns and every API shows.
//!
//! Units are in the field names. A value the miner did not report is `None` (absent in JSON),
//! never `0`. Unknown fields are ignored on input so that newer drivers work with older hosts.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a miner is doing, as far as the driver (and later the daemon) can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MinerState {
    /// Reachable and producing work.
    Hashing,
    /// Reachable, not hashing (paused, zero hashrate, no share progress).
    #[default]
    Idle,
    /// Reachable, stopped by a power, overheat or hardware fault.
    Faulted,
    /// Not reachable.
    Offline,
}

impl MinerState {
    /// The lowercase name used in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            MinerState::Hashing => "hashing",
            MinerState::Idle => "idle",
            MinerState::Faulted => "faulted",
            MinerState::Offline => "offline",
        }
    }
}

/// One fan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Fan {
    /// 0-based position.
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pct: Option<f64>,
}

/// One hash board (a single-chip home miner has one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Board {
    /// 0-based position.
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashrate_hs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_c: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chip_temp_c: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chips: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_chips: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// One configured pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Pool {
    /// Position as the miner numbers it (0-based; Whatsminer's 1-based index is shifted).
    pub index: u32,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<f64>,
}

impl Pool {
    /// This pool as a rule reading only [`Fields::POOL_TARGETS`](crate::Fields::POOL_TARGETS)
    /// sees it: where it points, its counters and difficulty `None`.
    pub fn target(&self) -> Pool {
        Pool {
            index: self.index,
            url: self.url.clone(),
            user: self.user.clone(),
            active: self.active,
            ..Default::default()
        }
    }
}

/// A fault the miner itself reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MinerError {
    pub code: String,
    pub message: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
}

/// One normalized record per miner per poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MinerRecord {
    /// Stable key: MAC address when known, else `host`.
    pub id: String,
    /// Address polled.
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `Bitaxe`, `NerdQAxe`, `Antminer`, `Whatsminer`, `Avalon`, ...
    pub make: String,
    /// Product, not chip: `Gamma`, `Supra`, `S19 Pro`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
    /// Plugin that produced the record, `name@version`.
    pub driver: String,
    pub state: MinerState,
    /// When the poll finished, Unix ms.
    pub ts_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashrate_hs: Option<f64>,
    /// Window (`1m`, `10m`, `1h`, ...) to H/s.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hashrate_avg_hs: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_hashrate_hs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_c: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_max_c: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vr_temp_c: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_temp_c: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efficiency_j_th: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_voltage_v: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_current_a: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core_voltage_mv: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_mhz: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fans: Vec<Fan>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub boards: Vec<Board>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares_accepted: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares_rejected: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares_stale: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hw_error_pct: Option<f64>,
    /// All-time best share difficulty as the miner reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_diff: Option<f64>,
    /// Best since the miner (or its mining process) started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_session_diff: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_difficulty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_difficulty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks_found: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<Pool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<MinerError>,
}

impl MinerRecord {
    /// Fills `efficiency_j_th` from power and hashrate when both are known and positive.
    pub fn derive_efficiency(&mut self) {
        if let (Some(w), Some(hs)) = (self.power_w, self.hashrate_hs)
            && w > 0.0
            && hs > 0.0
        {
            self.efficiency_j_th = Some(w / (hs / 1e12));
        }
    }

    /// Makes every number that is not finite (an overflowed unit conversion, `inf` from
    /// firmware) "not reported". The SDK applies this to every record a driver returns.
    pub fn sanitize(&mut self) {
        fn f(v: &mut Option<f64>) {
            if v.is_some_and(|x| !x.is_finite()) {
                *v = None;
            }
        }
        for v in [
            &mut self.hashrate_hs,
            &mut self.expected_hashrate_hs,
            &mut self.temp_c,
            &mut self.temp_max_c,
            &mut self.vr_temp_c,
            &mut self.env_temp_c,
            &mut self.power_w,
            &mut self.efficiency_j_th,
            &mut self.input_voltage_v,
            &mut self.input_current_a,
            &mut self.core_voltage_mv,
            &mut self.frequency_mhz,
            &mut self.hw_error_pct,
            &mut self.best_diff,
            &mut self.best_session_diff,
            &mut self.pool_difficulty,
            &mut self.network_difficulty,
        ] {
            f(v);
        }
        self.hashrate_avg_hs.retain(|_, v| v.is_finite());
        for fan in &mut self.fans {
            f(&mut fan.rpm);
            f(&mut fan.pct);
        }
        for b in &mut self.boards {
            f(&mut b.hashrate_hs);
            f(&mut b.temp_c);
            f(&mut b.chip_temp_c);
        }
        for p in &mut self.pools {
            f(&mut p.difficulty);
        }
    }

    /// The record as compact JSON.
    pub fn to_json(&self) -> String {
        // A struct of plain fields and string-keyed maps cannot fail to serialize.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Generates `from_wit` and `to_wit` between [`MinerRecord`] and the contract's
/// `types.miner-record` as a bindings generator emitted it at the given module path. The guest
/// (wit-bindgen) and the host (wasmtime) each get their own Rust types for the record, with the
/// same fields; this keeps the one list of fields in one place. Fields are moved, never parsed.
#[doc(hidden)]
#[macro_export]
macro_rules! __record_wire {
    ($($wt:ident)::+) => {
        /// The contract's record as the SDK's.
        #[allow(dead_code)]
        pub fn from_wit(r: $($wt)::+::MinerRecord) -> $crate::MinerRecord {
            $crate::MinerRecord {
                id: r.id,
                host: r.host,
                mac: r.mac,
                hostname: r.hostname,
                make: r.make,
                model: r.model,
                chip: r.chip,
                firmware: r.firmware,
                firmware_version: r.firmware_version,
                driver: r.driver,
                state: state_from_wit(r.state),
                ts_ms: r.ts_ms,
                uptime_s: r.uptime_s,
                hashrate_hs: r.hashrate_hs,
                hashrate_avg_hs: r.hashrate_avg_hs.into_iter().collect(),
                expected_hashrate_hs: r.expected_hashrate_hs,
                temp_c: r.temp_c,
                temp_max_c: r.temp_max_c,
                vr_temp_c: r.vr_temp_c,
                env_temp_c: r.env_temp_c,
                power_w: r.power_w,
                efficiency_j_th: r.efficiency_j_th,
                input_voltage_v: r.input_voltage_v,
                input_current_a: r.input_current_a,
                core_voltage_mv: r.core_voltage_mv,
                frequency_mhz: r.frequency_mhz,
                fans: r.fans.into_iter().map(fan_from_wit).collect(),
                boards: r.boards.into_iter().map(board_from_wit).collect(),
                shares_accepted: r.shares_accepted,
                shares_rejected: r.shares_rejected,
                shares_stale: r.shares_stale,
                hw_error_pct: r.hw_error_pct,
                best_diff: r.best_diff,
                best_session_diff: r.best_session_diff,
                pool_difficulty: r.pool_difficulty,
                network_difficulty: r.network_difficulty,
                block_height: r.block_height,
                blocks_found: r.blocks_found,
                pools: r.pools.into_iter().map(pool_from_wit).collect(),
                errors: r.errors.into_iter().map(error_from_wit).collect(),
            }
        }

        /// The SDK's record as the contract's.
        #[allow(dead_code)]
        pub fn to_wit(r: $crate::MinerRecord) -> $($wt)::+::MinerRecord {
            $($wt)::+::MinerRecord {
                id: r.id,
                host: r.host,
                mac: r.mac,
                hostname: r.hostname,
                make: r.make,
                model: r.model,
                chip: r.chip,
                firmware: r.firmware,
                firmware_version: r.firmware_version,
                driver: r.driver,
                state: state_to_wit(r.state),
                ts_ms: r.ts_ms,
                uptime_s: r.uptime_s,
                hashrate_hs: r.hashrate_hs,
                hashrate_avg_hs: r.hashrate_avg_hs.into_iter().collect(),
                expected_hashrate_hs: r.expected_hashrate_hs,
                temp_c: r.temp_c,
                temp_max_c: r.temp_max_c,
                vr_temp_c: r.vr_temp_c,
                env_temp_c: r.env_temp_c,
                power_w: r.power_w,
                efficiency_j_th: r.efficiency_j_th,
                input_voltage_v: r.input_voltage_v,
                input_current_a: r.input_current_a,
                core_voltage_mv: r.core_voltage_mv,
                frequency_mhz: r.frequency_mhz,
                fans: r.fans.into_iter().map(fan_to_wit).collect(),
                boards: r.boards.into_iter().map(board_to_wit).collect(),
                shares_accepted: r.shares_accepted,
                shares_rejected: r.shares_rejected,
                shares_stale: r.shares_stale,
                hw_error_pct: r.hw_error_pct,
                best_diff: r.best_diff,
                best_session_diff: r.best_session_diff,
                pool_difficulty: r.pool_difficulty,
                network_difficulty: r.network_difficulty,
                block_height: r.block_height,
                blocks_found: r.blocks_found,
                pools: r.pools.into_iter().map(pool_to_wit).collect(),
                errors: r.errors.into_iter().map(error_to_wit).collect(),
            }
        }

        /// The contract's state as the SDK's.
        #[allow(dead_code)]
        fn state_from_wit(s: $($wt)::+::MinerState) -> $crate::MinerState {
            match s {
                $($wt)::+::MinerState::Hashing => $crate::MinerState::Hashing,
                $($wt)::+::MinerState::Idle => $crate::MinerState::Idle,
                $($wt)::+::MinerState::Faulted => $crate::MinerState::Faulted,
                $($wt)::+::MinerState::Offline => $crate::MinerState::Offline,
            }
        }

        /// The SDK's state as the contract's.
        #[allow(dead_code)]
        fn state_to_wit(s: $crate::MinerState) -> $($wt)::+::MinerState {
            match s {
                $crate::MinerState::Hashing => $($wt)::+::MinerState::Hashing,
                $crate::MinerState::Idle => $($wt)::+::MinerState::Idle,
                $crate::MinerState::Faulted => $($wt)::+::MinerState::Faulted,
                $crate::MinerState::Offline => $($wt)::+::MinerState::Offline,
            }
        }

        #[allow(unused_imports)]
        use $($wt)::+ as __wire_types;
        $crate::__record_items_wire!(
            __wire_types;
            fan_from_wit, fan_to_wit: Fan { index, rpm, pct };
            board_from_wit, board_to_wit: Board {
                index, hashrate_hs, temp_c, chip_temp_c, chips, expected_chips, active
            };
            pool_from_wit, pool_to_wit: Pool {
                index, url, user, active, alive, accepted, rejected, difficulty
            };
            error_from_wit, error_to_wit: MinerError { code, message, severity };
        );
    };
}

/// The conversions, both ways, of the records a `miner-record` lists (fans, boards, pools,
/// errors): the SDK's and the contract's have the same fields under the same names.
#[doc(hidden)]
#[macro_export]
macro_rules! __record_items_wire {
    ($wt:ident; $($from:ident, $to:ident: $ty:ident { $($field:ident),* $(,)? };)*) => {
        $(
            #[allow(dead_code)]
            fn $from(x: $wt::$ty) -> $crate::$ty {
                $crate::$ty { $($field: x.$field),* }
            }

            #[allow(dead_code)]
            fn $to(x: $crate::$ty) -> $wt::$ty {
                $wt::$ty { $($field: x.$field),* }
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_values_stay_absent_and_round_trip() {
        let mut r = MinerRecord {
            id: "aa:bb".into(),
            host: "10.0.0.2".into(),
            make: "Bitaxe".into(),
            state: MinerState::Hashing,
            hashrate_hs: Some(1.0e12),
            power_w: Some(15.0),
            shares_accepted: Some(0),
            ..Default::default()
        };
        r.derive_efficiency();
        let json = r.to_json();
        assert!(
            !json.contains("temp_c"),
            "absent temp must not be serialized: {json}"
        );
        assert!(
            json.contains("\"shares_accepted\":0"),
            "a reported zero stays: {json}"
        );
        assert!(json.contains("\"state\":\"hashing\""));
        let back: MinerRecord = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, r);
        assert_eq!(back.efficiency_j_th, Some(15.0));
    }

    #[test]
    fn sanitize_drops_non_finite_numbers() {
        let mut r = MinerRecord {
            hashrate_hs: Some(f64::INFINITY),
            temp_c: Some(f64::NAN),
            power_w: Some(5.0),
            ..Default::default()
        };
        r.hashrate_avg_hs.insert("1m".into(), f64::NEG_INFINITY);
        r.fans.push(Fan {
            index: 0,
            rpm: Some(f64::NAN),
            pct: Some(40.0),
        });
        r.sanitize();
        assert_eq!(
            (r.hashrate_hs, r.temp_c, r.power_w),
            (None, None, Some(5.0))
        );
        assert!(r.hashrate_avg_hs.is_empty());
        assert_eq!((r.fans[0].rpm, r.fans[0].pct), (None, Some(40.0)));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let r: MinerRecord =
            serde_json::from_str(r#"{"id":"x","make":"M","future_field":[1,2]}"#).expect("lenient");
        assert_eq!(r.id, "x");
    }
}

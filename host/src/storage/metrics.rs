//! The numeric fields of a miner record kept as history. A sample is one value per metric;
//! `None` (not reported) is stored as a canonical NaN, never as 0.

use solomon_plugin_sdk::{MinerRecord, MinerState};

/// Metrics kept per sample, in storage column order. Appending is compatible; reordering or
/// removing is a schema change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// `hashrate_hs`
    Hashrate,
    /// `expected_hashrate_hs`
    ExpectedHashrate,
    /// `temp_c`
    Temp,
    /// `temp_max_c`
    TempMax,
    /// `vr_temp_c`
    VrTemp,
    /// `power_w`
    Power,
    /// The fastest fan's RPM.
    FanRpm,
    /// `shares_accepted`
    SharesAccepted,
    /// `shares_rejected`
    SharesRejected,
    /// `best_diff`
    BestDiff,
    /// `state` as 0 hashing, 1 idle, 2 faulted, 3 offline.
    State,
}

/// Number of metrics per sample.
pub const METRICS: usize = 11;

/// Every metric in column order.
pub const ALL: [Metric; METRICS] = [
    Metric::Hashrate,
    Metric::ExpectedHashrate,
    Metric::Temp,
    Metric::TempMax,
    Metric::VrTemp,
    Metric::Power,
    Metric::FanRpm,
    Metric::SharesAccepted,
    Metric::SharesRejected,
    Metric::BestDiff,
    Metric::State,
];

impl Metric {
    /// Column index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The record field name used in the API (`hashrate_hs`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Hashrate => "hashrate_hs",
            Metric::ExpectedHashrate => "expected_hashrate_hs",
            Metric::Temp => "temp_c",
            Metric::TempMax => "temp_max_c",
            Metric::VrTemp => "vr_temp_c",
            Metric::Power => "power_w",
            Metric::FanRpm => "fan_rpm",
            Metric::SharesAccepted => "shares_accepted",
            Metric::SharesRejected => "shares_rejected",
            Metric::BestDiff => "best_diff",
            Metric::State => "state",
        }
    }

    /// The metric named `name`.
    pub fn parse(name: &str) -> Option<Metric> {
        ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The value stored for "not reported".
pub const ABSENT: f64 = f64::NAN;

/// One sample: when, and one value per metric (NaN = not reported).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix ms.
    pub ts_ms: u64,
    /// Indexed by [`Metric::index`].
    pub values: [f64; METRICS],
}

impl Sample {
    /// The value of `m`, `None` if not reported.
    pub fn get(&self, m: Metric) -> Option<f64> {
        let v = self.values[m.index()];
        (!v.is_nan()).then_some(v)
    }
}

fn state_code(s: MinerState) -> f64 {
    match s {
        MinerState::Hashing => 0.0,
        MinerState::Idle => 1.0,
        MinerState::Faulted => 2.0,
        MinerState::Offline => 3.0,
    }
}

/// The sample of a record. Non-finite values from a driver are stored as not reported.
pub fn sample_of(r: &MinerRecord) -> Sample {
    let mut values = [ABSENT; METRICS];
    let mut put = |m: Metric, v: Option<f64>| {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            values[m.index()] = v;
        }
    };
    put(Metric::Hashrate, r.hashrate_hs);
    put(Metric::ExpectedHashrate, r.expected_hashrate_hs);
    put(Metric::Temp, r.temp_c);
    put(Metric::TempMax, r.temp_max_c);
    put(Metric::VrTemp, r.vr_temp_c);
    put(Metric::Power, r.power_w);
    put(
        Metric::FanRpm,
        r.fans.iter().filter_map(|f| f.rpm).reduce(f64::max),
    );
    put(Metric::SharesAccepted, r.shares_accepted.map(|v| v as f64));
    put(Metric::SharesRejected, r.shares_rejected.map(|v| v as f64));
    put(Metric::BestDiff, r.best_diff);
    put(Metric::State, Some(state_code(r.state)));
    Sample {
        ts_ms: r.ts_ms,
        values,
    }
}

//! Rests: what a rule promises about a miner it found quiet, so that the host need not ask it
//! again about samples that would not change its verdict (the contract's `rest`).
//!
//! A rule call costs a few µs per event, for every rule, at every poll of every miner. In a
//! healthy fleet nearly all of those calls say "nothing firing". A rest says for how long
//! that answer stands: while some groups of fields do not change ([`Rest::while_unchanged`]),
//! while a gauge stays in a range ([`Rest::within`]), until a time ([`Rest::until`]). The
//! host checks it natively at every sample and sends the rule only the samples that break it.
//!
//! The types are plain Rust so that the host checks a rest with the same code a rule author
//! tests it with ([`Rest::holds`]).

use crate::{Fields, MinerRecord};

/// Most bounds a rest may have; the host ignores a rest with more.
pub const MAX_BOUNDS: usize = 16;

/// A number in a miner's record that the host can watch on behalf of a resting rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gauge {
    /// [`MinerRecord::hashrate_hs`].
    Hashrate,
    /// [`MinerRecord::expected_hashrate_hs`].
    ExpectedHashrate,
    /// [`MinerRecord::temp_c`].
    Temp,
    /// [`MinerRecord::temp_max_c`].
    TempMax,
    /// [`MinerRecord::vr_temp_c`].
    VrTemp,
    /// The lowest `rpm` among the fans that report one and are not driven at 0 % (`pct`):
    /// an idle fan standing still is not a failing one.
    FanRpmMin,
    /// [`MinerRecord::power_w`].
    Power,
    /// [`MinerRecord::shares_accepted`].
    SharesAccepted,
    /// [`MinerRecord::shares_rejected`].
    SharesRejected,
}

impl Gauge {
    /// What `r` reports for this gauge.
    pub fn read(self, r: &MinerRecord) -> Option<f64> {
        match self {
            Gauge::Hashrate => r.hashrate_hs,
            Gauge::ExpectedHashrate => r.expected_hashrate_hs,
            Gauge::Temp => r.temp_c,
            Gauge::TempMax => r.temp_max_c,
            Gauge::VrTemp => r.vr_temp_c,
            Gauge::FanRpmMin => r
                .fans
                .iter()
                .filter(|f| f.pct.is_none_or(|p| p != 0.0))
                .filter_map(|f| f.rpm)
                .reduce(f64::min),
            Gauge::Power => r.power_w,
            Gauge::SharesAccepted => r.shares_accepted.map(|n| n as f64),
            Gauge::SharesRejected => r.shares_rejected.map(|n| n as f64),
        }
    }
}

/// One gauge a rest depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// What is watched.
    pub gauge: Gauge,
    /// The rest holds while the gauge reads within `[low, high]` (`Some`), or while it is not
    /// reported (`None`). NaN is never within.
    pub within: Option<(f64, f64)>,
}

impl Bound {
    /// Whether `r` keeps this bound.
    pub fn holds(&self, r: &MinerRecord) -> bool {
        match (self.within, self.gauge.read(r)) {
            (None, None) => true,
            (Some((low, high)), Some(v)) => low <= v && v <= high,
            _ => false,
        }
    }
}

/// A rule's promise about a miner it found quiet: as long as every sample keeps it, judging
/// that sample would again fire nothing, and would change nothing in the rule's plugin state
/// that a later verdict depends on. A state change always breaks it.
///
/// ```
/// use solomon_plugin_sdk::Fields;
/// use solomon_plugin_sdk::rest::{Gauge, Rest};
/// // Quiet while the pools point where they did and the chip stays at or below 70 °C.
/// let rest =
///     Rest::while_unchanged(Fields::POOL_TARGETS).within(Gauge::TempMax, f64::NEG_INFINITY, 70.0);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rest {
    /// Groups of fields whose change from one sample to the next breaks the rest (`state`
    /// and `make` always do).
    pub changed: Fields,
    /// Gauges that must stay where the rule left them.
    pub bounds: Vec<Bound>,
    /// The rest ends at the first sample at or after this time, Unix ms.
    pub until_ms: Option<u64>,
}

impl Rest {
    /// Holds until the state changes: for a rule whose verdict follows from the state alone.
    pub fn until_state_changes() -> Rest {
        Rest::default()
    }

    /// Holds while the groups in `changed` (and the state) stay as they are: for a rule
    /// whose verdict follows from them and from what it keeps in plugin state.
    pub fn while_unchanged(changed: Fields) -> Rest {
        Rest {
            changed,
            ..Rest::default()
        }
    }

    /// Also breaks when `gauge` leaves `[low, high]` or is no longer reported. The host reads
    /// the gauge from the whole record, but the rule sees only the groups it reads
    /// ([`crate::rule::Rule::READS`]): bound only what you read.
    pub fn within(mut self, gauge: Gauge, low: f64, high: f64) -> Rest {
        self.bounds.push(Bound {
            gauge,
            within: Some((low, high)),
        });
        self
    }

    /// Also breaks when `gauge` no longer reads `value` (`None`: when it starts being
    /// reported).
    pub fn pinned(mut self, gauge: Gauge, value: Option<f64>) -> Rest {
        self.bounds.push(Bound {
            gauge,
            within: value.map(|v| (v, v)),
        });
        self
    }

    /// Also ends at the first sample at or after `ms` (Unix ms), e.g. when something the
    /// rule keeps goes stale.
    pub fn until(mut self, ms: u64) -> Rest {
        self.until_ms = Some(self.until_ms.map_or(ms, |t| t.min(ms)));
        self
    }

    /// Whether a sample at `ts_ms` whose record is `current`, following one whose record is
    /// `previous`, keeps the rest. What the host asks of every sample of a resting rule.
    pub fn holds(&self, previous: &MinerRecord, current: &MinerRecord, ts_ms: u64) -> bool {
        holds(
            self.changed,
            &self.bounds,
            self.until_ms,
            previous,
            current,
            ts_ms,
        )
    }
}

/// [`Rest::holds`] on the parts of a rest, for a host that keeps many of them packed.
pub fn holds(
    changed: Fields,
    bounds: &[Bound],
    until_ms: Option<u64>,
    previous: &MinerRecord,
    current: &MinerRecord,
    ts_ms: u64,
) -> bool {
    until_ms.is_none_or(|t| ts_ms < t)
        && changed.agree(previous, current)
        && bounds.iter().all(|b| b.holds(current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fan, MinerState, Pool};

    fn record() -> MinerRecord {
        MinerRecord {
            state: MinerState::Hashing,
            hashrate_hs: Some(1.0e12),
            temp_max_c: Some(60.0),
            fans: vec![
                Fan {
                    index: 0,
                    rpm: Some(4000.0),
                    pct: Some(50.0),
                },
                Fan {
                    index: 1,
                    rpm: Some(0.0),
                    pct: Some(0.0),
                },
                Fan {
                    index: 2,
                    rpm: Some(3500.0),
                    pct: None,
                },
            ],
            pools: vec![Pool {
                url: "stratum+tcp://solo.ckpool.org:3333".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn gauges_read_their_fields_and_idle_fans_are_not_the_slowest() {
        let r = record();
        assert_eq!(Gauge::Hashrate.read(&r), Some(1.0e12));
        assert_eq!(Gauge::TempMax.read(&r), Some(60.0));
        assert_eq!(Gauge::Temp.read(&r), None);
        assert_eq!(Gauge::FanRpmMin.read(&r), Some(3500.0));
        let no_fans = MinerRecord::default();
        assert_eq!(Gauge::FanRpmMin.read(&no_fans), None);
    }

    #[test]
    fn a_rest_breaks_on_a_change_a_gauge_out_of_range_or_its_time() {
        let before = record();
        let rest = Rest::while_unchanged(Fields::POOLS)
            .within(Gauge::TempMax, f64::NEG_INFINITY, 70.0)
            .pinned(Gauge::ExpectedHashrate, None)
            .until(10_000);
        assert!(rest.holds(&before, &before, 9_999));
        assert!(!rest.holds(&before, &before, 10_000), "its time is up");

        let mut warmer = before.clone();
        warmer.temp_max_c = Some(70.0);
        assert!(
            rest.holds(&before, &warmer, 0),
            "the range's ends are in it"
        );
        warmer.temp_max_c = Some(70.5);
        assert!(!rest.holds(&before, &warmer, 0), "out of range");
        warmer.temp_max_c = None;
        assert!(!rest.holds(&before, &warmer, 0), "no longer reported");
        warmer.temp_max_c = Some(f64::NAN);
        assert!(!rest.holds(&before, &warmer, 0), "NaN is never within");

        let mut expected = before.clone();
        expected.expected_hashrate_hs = Some(1.1e12);
        assert!(
            !rest.holds(&before, &expected, 0),
            "a pinned gauge appeared"
        );

        let mut moved = before.clone();
        moved.pools[0].url = "stratum+tcp://elsewhere:3333".into();
        assert!(!rest.holds(&before, &moved, 0), "a watched group changed");
        let mut other = before.clone();
        other.hashrate_hs = Some(0.9e12);
        assert!(rest.holds(&before, &other, 0), "a group it does not watch");
        other.state = MinerState::Idle;
        assert!(!rest.holds(&before, &other, 0), "the state always counts");
    }

    #[test]
    fn the_earliest_end_wins() {
        assert_eq!(Rest::default().until(5).until(9).until_ms, Some(5));
    }
}

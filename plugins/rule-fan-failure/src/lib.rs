//! Alert rule `rule-fan-failure`: a fan below `min_rpm` while it should turn (its duty is not
//! 0) for `samples` polls in a row. A miner without fans (or that reports none) never fires.
//!
//! Settings: `min_rpm` (default 500), `samples` (default 2).

use solomon_plugin_sdk::Fields;
use solomon_plugin_sdk::rule::{Alert, Event, Gauge, Rest, Rule, Verdict, streak};
use solomon_plugin_sdk::{MinerRecord, MinerState, Severity};

/// The fans of `r` slower than `min_rpm` while driven, as `fan 1 at 0 rpm`.
pub fn stopped(r: &MinerRecord, min_rpm: f64) -> Vec<String> {
    r.fans
        .iter()
        .filter(|f| f.rpm.is_some_and(|rpm| rpm < min_rpm) && f.pct.is_none_or(|p| p > 0.0))
        .map(|f| format!("fan {} at {:.0} rpm", f.index + 1, f.rpm.unwrap_or(0.0)))
        .collect()
}

struct FanFailure;

impl Rule for FanFailure {
    const READS: Fields = Fields::FANS;
    // Reads only the current record: the host need not copy the previous one in.
    const READS_PREVIOUS: bool = false;

    fn description() -> &'static str {
        "A fan that stopped or crawls below min_rpm while the miner runs"
    }

    fn evaluate(event: &Event) -> Result<Verdict, String> {
        let Some(r) = event.current() else {
            return Ok(Verdict::default());
        };
        if r.state == MinerState::Offline {
            // Nothing counted while offline: only coming back changes that.
            return Ok(Verdict::default().resting(Rest::until_state_changes()));
        }
        if r.fans.is_empty() {
            return Ok(Verdict::default());
        }
        let min_rpm = event.config_f64("min_rpm", 500.0);
        let bad = stopped(r, min_rpm);
        let needed = event.config_f64("samples", 2.0).max(1.0) as u32;
        let n = streak(&format!("fan/{}", event.miner_id), !bad.is_empty())?;
        let firing = n >= needed;
        let message = if bad.is_empty() {
            "fans turning".to_string()
        } else {
            bad.join(", ")
        };
        let verdict = Verdict::from(vec![Alert::new("fan", Severity::Critical, message, firing)]);
        // With no fan stopped the streak is back at 0, and stays there while the slowest
        // driven fan turns at `min_rpm` or more. While a streak counts, every sample counts.
        Ok(if n == 0 {
            verdict.resting(match Gauge::FanRpmMin.read(r) {
                Some(_) => {
                    Rest::until_state_changes().within(Gauge::FanRpmMin, min_rpm, f64::INFINITY)
                }
                None => Rest::until_state_changes().pinned(Gauge::FanRpmMin, None),
            })
        } else {
            verdict
        })
    }
}

solomon_plugin_sdk::register_rule!(FanFailure);

#[cfg(test)]
mod tests {
    use super::*;
    use solomon_plugin_sdk::Fan;

    #[test]
    fn a_driven_fan_at_zero_is_stopped_an_idle_one_is_not() {
        let r = MinerRecord {
            fans: vec![
                Fan {
                    index: 0,
                    rpm: Some(4400.0),
                    pct: Some(40.0),
                },
                Fan {
                    index: 1,
                    rpm: Some(0.0),
                    pct: Some(40.0),
                },
                Fan {
                    index: 2,
                    rpm: Some(0.0),
                    pct: Some(0.0),
                },
            ],
            ..Default::default()
        };
        assert_eq!(stopped(&r, 500.0), vec!["fan 2 at 0 rpm".to_string()]);
    }
}

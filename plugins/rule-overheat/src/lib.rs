//! Alert rule `rule-overheat`: the chip or the voltage regulator above its limit.
//!
//! Settings (`[rules.rule-overheat]`, per-miner overrides under `miners.<id>`): `chip_c` and
//! `vr_c`. Defaults depend on the make, since a Bitaxe's chip throttles near 70 °C while an
//! Antminer's runs at 80-90 °C: AxeOS-family 70 / 85 °C, others 95 / 100 °C. An alert is
//! critical 10 °C above its limit. It clears 3 °C below the limit, so a value hovering at the
//! limit does not flap.

use solomon_plugin_sdk::Fields;
use solomon_plugin_sdk::MinerRecord;
use solomon_plugin_sdk::Severity;
use solomon_plugin_sdk::rule::{Alert, Event, Gauge, Rest, Rule, Verdict};

/// Degrees below the limit at which a firing alert clears.
const HYSTERESIS_C: f64 = 3.0;

fn is_small_miner(make: &str) -> bool {
    let m = make.to_ascii_lowercase();
    m.contains("bitaxe") || m.contains("nerd") || m.contains("axe")
}

/// The hottest chip reading of a record.
fn chip(r: &MinerRecord) -> Option<f64> {
    r.temp_max_c.or(r.temp_c)
}

/// One sensor's verdict; `None` when the miner did not report it.
pub fn judge(key: &str, now: Option<f64>, before: Option<f64>, limit: f64) -> Option<Alert> {
    let t = now?;
    let was_hot = before.is_some_and(|b| b > limit);
    let firing = t > limit || (was_hot && t > limit - HYSTERESIS_C);
    let severity = if t > limit + 10.0 {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let what = if key == "vr" {
        "voltage regulator"
    } else {
        "chip"
    };
    let message = if firing {
        format!("{what} at {t:.1} °C, above its limit of {limit:.0} °C")
    } else {
        format!("{what} at {t:.1} °C")
    };
    Some(Alert::new(key, severity, message, firing))
}

/// For a miner found cool: it stays so while each temperature it judged stays at or under its
/// limit (the hysteresis only holds an alert that fired), and while the ones it did not see
/// stay unreported. The limits follow from `make`, whose change breaks any rest.
fn rest(r: &MinerRecord, chip_limit: f64, vr_limit: f64) -> Rest {
    let cool = |rest: Rest, gauge: Gauge, t: Option<f64>, limit: f64| match t {
        Some(_) => rest.within(gauge, f64::NEG_INFINITY, limit),
        None => rest.pinned(gauge, None),
    };
    // The chip's reading is `temp_max_c` when there is one, else `temp_c`.
    let rest = match r.temp_max_c {
        Some(t) => cool(
            Rest::until_state_changes(),
            Gauge::TempMax,
            Some(t),
            chip_limit,
        ),
        None => cool(
            Rest::until_state_changes().pinned(Gauge::TempMax, None),
            Gauge::Temp,
            r.temp_c,
            chip_limit,
        ),
    };
    cool(rest, Gauge::VrTemp, r.vr_temp_c, vr_limit)
}

struct Overheat;

impl Rule for Overheat {
    const READS: Fields = Fields::TEMPERATURES;
    fn description() -> &'static str {
        "Chip or voltage regulator above its temperature limit (per-family defaults)"
    }

    fn evaluate(event: &Event) -> Result<Verdict, String> {
        let Some(now) = event.current() else {
            return Ok(Verdict::default());
        };
        let before = event.previous();
        let small = is_small_miner(&now.make);
        let chip_limit = event.config_f64("chip_c", if small { 70.0 } else { 95.0 });
        let vr_limit = event.config_f64("vr_c", if small { 85.0 } else { 100.0 });
        let alerts: Vec<Alert> = [
            judge("chip", chip(now), before.and_then(chip), chip_limit),
            judge(
                "vr",
                now.vr_temp_c,
                before.and_then(|r| r.vr_temp_c),
                vr_limit,
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        Ok(Verdict::from(alerts).resting(rest(now, chip_limit, vr_limit)))
    }
}

solomon_plugin_sdk::register_rule!(Overheat);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_above_the_limit_and_clears_below_the_hysteresis() {
        let fire = |now, before| judge("chip", Some(now), before, 70.0).map(|a| a.firing);
        assert_eq!(fire(71.0, None), Some(true));
        assert_eq!(
            fire(69.0, Some(71.0)),
            Some(true),
            "still within 3 °C of the limit"
        );
        assert_eq!(fire(66.0, Some(69.0)), Some(false));
        assert_eq!(
            fire(69.0, Some(66.0)),
            Some(false),
            "not yet over the limit"
        );
        assert_eq!(
            judge("vr", None, None, 85.0),
            None,
            "nothing reported, nothing judged"
        );
        let a = judge("vr", Some(96.0), None, 85.0).map(|a| a.severity);
        assert_eq!(a, Some(Severity::Critical));
    }

    #[test]
    fn small_miners_are_told_apart() {
        assert!(is_small_miner("Bitaxe"));
        assert!(is_small_miner("NerdQAxe"));
        assert!(!is_small_miner("Antminer"));
    }
}

//! Alert rule `rule-not-hashing`: a miner that answers but does not hash. Either it reports
//! no hashrate, or it is in the stale-hashrate trap: the host marks a miner `idle` with a
//! `stalled` error when it keeps reporting a hashrate but no share was accepted for many
//! expected share intervals (the flatline other tools show as hashing for hours). An offline
//! miner is `rule-offline`'s.
//!
//! Settings: `severity` (`info`, `warning` default, `critical`).

use solomon_plugin_sdk::Fields;
use solomon_plugin_sdk::rule::{Alert, Event, Gauge, Rest, Rule, Verdict};
use solomon_plugin_sdk::{MinerRecord, MinerState, Severity};

/// Why `r` is not hashing, or `None` if it is (or is offline).
pub fn not_hashing(r: &MinerRecord) -> Option<String> {
    let stalled = r.errors.iter().find(|e| e.code == "stalled");
    match r.state {
        MinerState::Offline => None,
        MinerState::Idle => Some(
            stalled
                .map(|e| e.message.clone())
                .unwrap_or_else(|| "idle: answering but not hashing".into()),
        ),
        _ if stalled.is_some() => stalled.map(|e| e.message.clone()),
        _ if r.hashrate_hs.is_some_and(|h| h <= 0.0) => Some("hashrate 0".into()),
        _ => None,
    }
}

/// For a miner [`not_hashing`] passed (it keeps no state, so its verdict is a function of the
/// record): the verdict stands while its errors and state stay as
/// they are and its hashrate stays above 0 (or unreported, if it was).
fn rest(r: &MinerRecord) -> Rest {
    let rest = Rest::while_unchanged(Fields::ERRORS);
    match r.hashrate_hs {
        Some(_) => rest.within(Gauge::Hashrate, f64::MIN_POSITIVE, f64::INFINITY),
        None => rest.pinned(Gauge::Hashrate, None),
    }
}

struct NotHashing;

impl Rule for NotHashing {
    const READS: Fields = Fields::HASHRATE.and(Fields::ERRORS);
    // Reads only the current record: the host need not copy the previous one in.
    const READS_PREVIOUS: bool = false;

    fn description() -> &'static str {
        "A miner that answers but does not hash (zero hashrate, or a stalled, stale hashrate)"
    }

    fn evaluate(event: &Event) -> Result<Verdict, String> {
        let Some(r) = event.current() else {
            return Ok(Verdict::default());
        };
        let severity = match event.config.get("severity").and_then(|v| v.as_str()) {
            Some("info") => Severity::Info,
            Some("critical") => Severity::Critical,
            _ => Severity::Warning,
        };
        Ok(match not_hashing(r) {
            Some(why) => Verdict::from(vec![Alert::new("hashing", severity, why, true)]),
            None => Verdict::from(vec![Alert::new(
                "hashing",
                severity,
                "hashing again",
                false,
            )])
            .resting(rest(r)),
        })
    }
}

solomon_plugin_sdk::register_rule!(NotHashing);

#[cfg(test)]
mod tests {
    use super::*;
    use solomon_plugin_sdk::MinerError;

    #[test]
    fn idle_stalled_and_zero_are_not_hashing() {
        let mut r = MinerRecord {
            state: MinerState::Hashing,
            hashrate_hs: Some(1.2e12),
            ..Default::default()
        };
        assert_eq!(not_hashing(&r), None);
        r.hashrate_hs = Some(0.0);
        assert_eq!(not_hashing(&r).as_deref(), Some("hashrate 0"));
        r.state = MinerState::Idle;
        r.errors.push(MinerError {
            code: "stalled".into(),
            message: "no accepted share for 12 min".into(),
            severity: "warning".into(),
        });
        assert_eq!(
            not_hashing(&r).as_deref(),
            Some("no accepted share for 12 min")
        );
        r.state = MinerState::Offline;
        assert_eq!(not_hashing(&r), None, "offline is another rule's");
    }
}

//! Alert rule `rule-new-best`: a new all-time best share difficulty for a miner, as the daemon
//! saw it, and a new best for the whole fleet. The bests so far are kept in the rule's plugin
//! state (they survive restarts and reloads); the first sample of a miner only sets its best.
//! Fires when a sample beats it (key `best`; key `fleet-best` on the miner that beat the whole
//! fleet's), clears at the next sample.
//!
//! Settings: `min_difficulty` (default 0): ignore bests below it.

use serde::{Deserialize, Serialize};
use solomon_plugin_sdk::Fields;
use solomon_plugin_sdk::rule::{Alert, Event, Rest, Rule, Verdict};
use solomon_plugin_sdk::{Severity, host};

/// The fleet's best share so far and who found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetBest {
    /// Difficulty.
    pub diff: f64,
    /// Miner id.
    pub miner: String,
}

/// `4.29G`-style difficulty.
pub fn short(d: f64) -> String {
    const UNITS: [(f64, &str); 5] = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    UNITS
        .iter()
        .find(|(u, _)| d >= *u)
        .map_or_else(|| format!("{d:.0}"), |(u, s)| format!("{:.2}{s}", d / u))
}

/// Whether `best` beats what was known (`None`: nothing known yet, so it only sets it).
pub fn beats(best: f64, known: Option<f64>) -> bool {
    known.is_some_and(|k| best > k)
}

struct NewBest;

impl Rule for NewBest {
    const READS: Fields = Fields::DIFFICULTY;
    // Reads only the current record: the host need not copy the previous one in.
    const READS_PREVIOUS: bool = false;

    fn description() -> &'static str {
        "A new all-time best share difficulty for a miner, and for the whole fleet"
    }

    fn evaluate(event: &Event) -> Result<Verdict, String> {
        let Some(best) = event.current().and_then(|r| r.best_diff) else {
            return Ok(Verdict::default().resting(Rest::while_unchanged(Self::READS)));
        };
        let key = format!("best/{}", event.miner_id);
        let known: Option<f64> = host::state::get_json(&key).map_err(|e| e.to_string())?;
        let record = beats(best, known) && best >= event.config_f64("min_difficulty", 0.0);
        if known.is_none_or(|k| best > k) {
            host::state::set_json(&key, &best).map_err(|e| e.to_string())?;
        }
        let message = match (record, known) {
            (true, Some(k)) => format!("new best difficulty {} (was {})", short(best), short(k)),
            _ => format!("best difficulty {}", short(known.unwrap_or(best).max(best))),
        };
        let mut alerts = vec![Alert::new("best", Severity::Info, message, record)];
        // Miners are judged concurrently: the fleet's best is swapped atomically, and the
        // miner whose share moved it learns what it was before.
        let mut before = None;
        host::state::update_json("fleet-best", |b: Option<FleetBest>| {
            before = b.clone();
            match b {
                Some(b) if b.diff >= best => b,
                _ => FleetBest {
                    diff: best,
                    miner: event.miner_id.clone(),
                },
            }
        })
        .map_err(|e| e.to_string())?;
        // News only when this sample is the miner's own new best and it beats another miner's
        // fleet best. A miner's first sample (after a start or when it is added) only moves the
        // bar: its best is old, and the fleet learning of it is not a find.
        let fleet_record = record
            && before
                .as_ref()
                .is_some_and(|b| best > b.diff && b.miner != event.miner_id);
        let fleet_message = match &before {
            Some(b) if fleet_record => format!(
                "new fleet-wide best difficulty {} (was {} by {})",
                short(best),
                short(b.diff),
                b.miner
            ),
            _ => "no new fleet-wide best".to_string(),
        };
        alerts.push(Alert::new(
            "fleet-best",
            Severity::Info,
            fleet_message,
            fleet_record,
        ));
        // An unchanged best beats nothing, and the bests it keeps stay as they are.
        Ok(Verdict::from(alerts).resting(Rest::while_unchanged(Self::READS)))
    }
}

solomon_plugin_sdk::register_rule!(NewBest);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_higher_best_is_news() {
        assert!(!beats(5e9, None), "the first sample sets the bar");
        assert!(beats(5e9, Some(4e9)));
        assert!(!beats(4e9, Some(4e9)));
        assert_eq!(short(4.29e9), "4.29G");
        assert_eq!(short(512.0), "512");
    }
}

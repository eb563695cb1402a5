//! Alert rule `rule-new-best`: a new all-time best share difficulty for a miner, as the daemon
//! saw it. The best so far is kept in the rule's plugin state (it survives restarts and
//! reloads); the first sample of a miner only sets it. Fires when a sample beats it, clears at
//! the next sample.
//!
//! Settings: `min_difficulty` (default 0): ignore bests below it.

use solomon_plugin_sdk::rule::{Alert, Event, Rule};
use solomon_plugin_sdk::{Severity, host};

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
    fn description() -> &'static str {
        "A new all-time best share difficulty for a miner"
    }

    fn evaluate(event: &Event) -> Result<Vec<Alert>, String> {
        let Some(best) = event.current()?.and_then(|r| r.best_diff) else {
            return Ok(Vec::new());
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
        Ok(vec![Alert::new("best", Severity::Info, message, record)])
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

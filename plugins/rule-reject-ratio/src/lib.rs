//! Alert rule `rule-reject-ratio`: too many rejected shares. Counts accepted and rejected
//! shares over windows of `window_minutes` (kept in plugin state, restarted when a counter goes
//! back, as after a reboot) and judges each window with at least `min_shares` shares: firing
//! while more than `max_pct` percent were rejected.
//!
//! Settings: `max_pct` (default 5), `window_minutes` (default 30), `min_shares` (default 20).

use serde::{Deserialize, Serialize};
use solomon_plugin_sdk::Fields;
use solomon_plugin_sdk::rule::{Alert, Event, Gauge, Rest, Rule, Verdict};
use solomon_plugin_sdk::{Severity, host};

/// Where a window started.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Start, Unix ms.
    pub ts_ms: u64,
    /// Accepted shares then.
    pub accepted: u64,
    /// Rejected shares then.
    pub rejected: u64,
}

/// The rejected share of the window from `start` to (`accepted`, `rejected`), in percent, if
/// the window holds at least `min_shares` shares.
pub fn ratio(start: &Window, accepted: u64, rejected: u64, min_shares: u64) -> Option<f64> {
    let a = accepted.checked_sub(start.accepted)?;
    let r = rejected.checked_sub(start.rejected)?;
    (a + r >= min_shares.max(1)).then(|| 100.0 * r as f64 / (a + r) as f64)
}

/// While the window that began at `start` fills, a sample changes nothing: the rule only
/// looks again when it is full, or when the counters fall below the window's start (a
/// restart), which starts a new window.
fn filling(start: &Window, window_ms: u64) -> Rest {
    Rest::until_state_changes()
        .within(Gauge::SharesAccepted, start.accepted as f64, f64::INFINITY)
        .within(Gauge::SharesRejected, start.rejected as f64, f64::INFINITY)
        .until(start.ts_ms.saturating_add(window_ms))
}

struct RejectRatio;

impl Rule for RejectRatio {
    const READS: Fields = Fields::SHARES;
    // Reads only the current record: the host need not copy the previous one in.
    const READS_PREVIOUS: bool = false;

    fn description() -> &'static str {
        "More than max_pct percent of shares rejected over a window"
    }

    fn evaluate(event: &Event) -> Result<Verdict, String> {
        let Some(r) = event.current() else {
            return Ok(Verdict::default());
        };
        let (Some(accepted), Some(rejected)) = (r.shares_accepted, r.shares_rejected) else {
            return Ok(Verdict::default());
        };
        let key = format!("window/{}", event.miner_id);
        let now = Window {
            ts_ms: event.ts_ms,
            accepted,
            rejected,
        };
        let start: Option<Window> = host::state::get_json(&key).map_err(|e| e.to_string())?;
        let window_ms = (event.config_f64("window_minutes", 30.0).max(0.0) * 60_000.0) as u64;
        let Some(start) = start.filter(|s| accepted >= s.accepted && rejected >= s.rejected) else {
            // First sample, or the counters went back (a reboot): a new window.
            host::state::set_json(&key, &now).map_err(|e| e.to_string())?;
            return Ok(Verdict::default().resting(filling(&now, window_ms)));
        };
        if event.ts_ms.saturating_sub(start.ts_ms) < window_ms {
            return Ok(Verdict::default().resting(filling(&start, window_ms)));
        }
        let min_shares = event.config_f64("min_shares", 20.0).max(1.0) as u64;
        let Some(pct) = ratio(&start, accepted, rejected, min_shares) else {
            // Too few shares to judge (a small miner on a high difficulty): keep counting.
            return Ok(Verdict::default());
        };
        host::state::set_json(&key, &now).map_err(|e| e.to_string())?;
        let max = event.config_f64("max_pct", 5.0);
        let minutes = event.ts_ms.saturating_sub(start.ts_ms) as f64 / 60_000.0;
        let message = format!(
            "{pct:.1}% of shares rejected over the last {minutes:.0} min ({} of {})",
            rejected - start.rejected,
            (accepted - start.accepted) + (rejected - start.rejected)
        );
        Ok(Verdict::from(vec![Alert::new(
            "rejects",
            Severity::Warning,
            message,
            pct > max,
        )])
        .resting(filling(&now, window_ms)))
    }
}

solomon_plugin_sdk::register_rule!(RejectRatio);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_of_a_window() {
        let w = Window {
            ts_ms: 0,
            accepted: 100,
            rejected: 2,
        };
        assert_eq!(ratio(&w, 190, 12, 20), Some(10.0));
        assert_eq!(ratio(&w, 105, 2, 20), None, "too few shares");
        assert_eq!(ratio(&w, 50, 2, 20), None, "counter went back");
    }
}

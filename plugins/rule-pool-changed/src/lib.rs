//! Alert rule `rule-pool-changed`: the miner mines to another pool URL or user than it should,
//! which is how a hijacked miner ends up paying someone else.
//!
//! Settings: `pool_url` and `pool_user`, what the active pool must be (per miner under
//! `miners.<id>`). Without them, the first active pool the rule sees for a miner is taken as
//! the right one (kept in plugin state) and any later change is reported.

use solomon_plugin_sdk::Fields;
use solomon_plugin_sdk::rule::{Alert, Event, Rest, Rule, Verdict};
use solomon_plugin_sdk::{MinerRecord, Severity, host};

/// The active pool's URL and user.
fn active(r: &MinerRecord) -> Option<(String, String)> {
    let p = r
        .pools
        .iter()
        .find(|p| p.active == Some(true))
        .or_else(|| r.pools.first())?;
    Some((p.url.clone(), p.user.clone().unwrap_or_default()))
}

/// What differs between `now` and `want`, if anything.
pub fn difference(now: &(String, String), want: &(String, String)) -> Option<String> {
    let url = !want.0.is_empty() && !now.0.eq_ignore_ascii_case(&want.0);
    let user = !want.1.is_empty() && now.1 != want.1;
    match (url, user) {
        (false, false) => None,
        (true, _) => Some(format!("mining to {} instead of {}", now.0, want.0)),
        (false, true) => Some(format!("mining as user {} instead of {}", now.1, want.1)),
    }
}

struct PoolChanged;

impl Rule for PoolChanged {
    // Where each pool points, not its counters: those move at every poll, and a rest that
    // watched them would break at every poll.
    const READS: Fields = Fields::POOL_TARGETS;
    // Reads only the current record: the host need not copy the previous one in.
    const READS_PREVIOUS: bool = false;

    fn description() -> &'static str {
        "The active pool URL or user is not the expected one"
    }

    fn evaluate(event: &Event) -> Result<Verdict, String> {
        let Some(now) = event.current().and_then(active) else {
            return Ok(Verdict::default().resting(Rest::while_unchanged(Self::READS)));
        };
        let configured = |k: &str| {
            event
                .config
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let mut want = (configured("pool_url"), configured("pool_user"));
        if want.0.is_empty() && want.1.is_empty() {
            let key = format!("pool/{}", event.miner_id);
            // Read first: the baseline is written once, not on every sample.
            want = match host::state::get_json(&key).map_err(|e| e.to_string())? {
                Some(seen) => seen,
                None => host::state::update_json(&key, |seen: Option<(String, String)>| {
                    seen.unwrap_or_else(|| now.clone())
                })
                .map_err(|e| e.to_string())?,
            };
        }
        // The pool it learnt is written once; the same pool targets against it, the same
        // verdict.
        let alert = match difference(&now, &want) {
            Some(why) => Alert::new("pool", Severity::Critical, why, true),
            None => Alert::new(
                "pool",
                Severity::Critical,
                format!("mining to {}", now.0),
                false,
            ),
        };
        Ok(Verdict::from(vec![alert]).resting(Rest::while_unchanged(Self::READS)))
    }
}

solomon_plugin_sdk::register_rule!(PoolChanged);

#[cfg(test)]
mod tests {
    use super::*;

    fn p(url: &str, user: &str) -> (String, String) {
        (url.to_string(), user.to_string())
    }

    #[test]
    fn url_or_user_changes_are_reported() {
        let home = p("stratum+tcp://solo.ckpool.org:3333", "bc1qme.worker");
        assert_eq!(difference(&home, &home), None);
        assert!(
            difference(
                &p("stratum+tcp://evil.example:3333", "bc1qme.worker"),
                &home
            )
            .is_some()
        );
        assert!(difference(&p("stratum+tcp://solo.ckpool.org:3333", "bc1qthief"), &home).is_some());
        assert_eq!(
            difference(&home, &p("", "bc1qme.worker")),
            None,
            "only the user is pinned"
        );
    }
}
